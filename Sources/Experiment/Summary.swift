import Foundation

/// The checks of the issue's expected outcomes, computed from the table (mean Dice over cases and seeds).
public struct Claims: Codable, Sendable, Equatable {
    /// SegViz (plain) minus the best individual baseline, per organ (expected >= -0.02).
    public var segvizMinusIndividual: [String: Double]?
    /// Whether SegViz is within 0.02 of (or above) the individual baselines on every organ.
    public var segvizWithin002OfIndividual: Bool?
    /// Largest |secure - plain| element of any round's aggregate, from the same updates.
    public var secureMaxAbsDifference: Double?
    /// The quantisation bound (one quantum).
    public var secureBound: Double?
    /// Largest |update| sent (must stay within the clipping range for the bound to hold).
    public var secureMaxAbsUpdate: Double?
    /// Whether every round's difference is within the bound.
    public var secureWithinBound: Bool?
    /// Final Dice of the secure run minus the plain run, per organ (expected within 0.01).
    public var secureMinusPlainDice: [String: Double]?
    /// Whether the final Dice differ by at most 0.01 on every organ.
    public var secureDiceWithin001: Bool?
    /// Mean Dice difference of other setups against SegViz (plain), per setup and organ.
    public var minusSegviz: [String: [String: Double]]
    /// Whether the better global-model variant beats SegViz heads on the mean of the organs' Dice.
    public var globalBeatsHeads: Bool?
    /// Range (max - min) of the per-round Dice over the second half of the rounds, per run and organ: how much
    /// a setup still swings from round to round.
    public var lateRoundSwing: [String: [String: Double]]
    /// Per run and organ: final Dice, mean and minimum of the last five rounds, largest round-to-round change
    /// (of the seed-mean per-round Dice).
    public var stability: [String: [String: Stability]] = [:]
    /// The shipped recipe's final Dice, secure minus plain, per organ.
    public var recipeSecureMinusPlainDice: [String: Double]? = nil
    /// Whether the recipe's secure run is within 0.01 of its plain run on every organ (issue 18's gate).
    public var recipeSecureWithin001OfPlain: Bool? = nil
    /// The shipped recipe's final Dice (plain) minus centralised training's, per organ.
    public var recipeMinusCentralisedDice: [String: Double]? = nil
    /// Whether the recipe is within 0.02 of (or above) centralised training on every organ (issue 18's gate).
    public var recipeWithin002OfCentralised: Bool? = nil
}

/// How steady a run's external Dice is over its last rounds.
public struct Stability: Codable, Sendable, Equatable {
    /// Dice after the last round.
    public var final: Double
    /// Mean and minimum over the last five rounds (fewer when the run is shorter).
    public var meanLast5: Double, minLast5: Double
    /// Largest |Dice(r) - Dice(r-1)| over all rounds.
    public var largestChange: Double

    /// The figures of one per-round series (nil when empty).
    public static func of(_ byRound: [Double]) -> Stability? {
        guard let last = byRound.last else { return nil }
        let tail = byRound.suffix(5)
        let change = zip(byRound.dropFirst(), byRound).map { abs($0 - $1) }.max() ?? 0
        return Stability(final: last, meanLast5: tail.reduce(0, +) / Double(tail.count), minLast5: tail.min() ?? last,
                         largestChange: change)
    }
}

/// Builds the table and the claims from every run.
enum Summary {
    static func table(runs: [SetupRun]) -> [TableRow] {
        var names: [String] = []
        for r in runs where !names.contains(r.name) { names.append(r.name) }
        var rows: [TableRow] = []
        for name in names {
            let mine = runs.filter { $0.name == name }
            let first = mine[0]
            for organ in first.organs {
                let dice = mine.map { $0.cases.filter { $0.organ == organ }.map(\.dice) }
                let hd = mine.map { $0.cases.filter { $0.organ == organ }.compactMap(\.hd95) }
                let missing = mine.reduce(0) { $0 + $1.cases.filter { $0.organ == organ && $0.hd95 == nil }.count }
                let rounds = first.rounds.indices.map { i in
                    mine.map { $0.rounds[i].dice[organ] ?? 0 }.reduce(0, +) / Double(mine.count)
                }
                guard let d = Spread.of(dice) else { continue }
                let setup = Setup(rawValue: first.setup)
                let title = setup == .individual ? "Individual (\(name.dropFirst("individual-".count)) alone)" : setup?.title ?? name
                rows.append(TableRow(name: name, title: title, organ: organ, dice: d, hd95: Spread.of(hd),
                                     hd95Missing: missing, diceByRound: rounds))
            }
        }
        return rows
    }

    static func claims(table: [TableRow], runs: [SetupRun]) -> Claims {
        func mean(_ name: String, _ organ: String) -> Double? { table.first { $0.name == name && $0.organ == organ }?.dice.mean }
        let organs = ["liver", "spleen"]
        var c = Claims(minusSegviz: [:], lateRoundSwing: [:])
        // SegViz vs the best individual site per organ.
        var vsIndividual: [String: Double] = [:]
        for o in organs {
            let best = table.filter { $0.name.hasPrefix("individual-") && $0.organ == o }.map(\.dice.mean).max()
            if let s = mean(Setup.segviz.rawValue, o), let b = best { vsIndividual[o] = s - b }
        }
        if vsIndividual.count == organs.count {
            c.segvizMinusIndividual = vsIndividual
            c.segvizWithin002OfIndividual = vsIndividual.values.allSatisfy { $0 >= -0.02 }
        }
        // Secure vs plain.
        let checks = runs.compactMap(\.secureChecks).flatMap { $0 }
        if !checks.isEmpty {
            c.secureMaxAbsDifference = checks.map(\.maxAbsDifference).max()
            c.secureBound = checks.map(\.bound).min()
            c.secureMaxAbsUpdate = checks.map(\.maxAbsUpdate).max()
            c.secureWithinBound = checks.allSatisfy { $0.maxAbsDifference <= $0.bound }
        }
        var securePlain: [String: Double] = [:]
        for o in organs {
            if let s = mean(Setup.segvizSecure.rawValue, o), let p = mean(Setup.segviz.rawValue, o) { securePlain[o] = s - p }
        }
        if securePlain.count == organs.count {
            c.secureMinusPlainDice = securePlain
            c.secureDiceWithin001 = securePlain.values.allSatisfy { abs($0) <= 0.01 }
        }
        // Everything against SegViz heads.
        for row in table where row.name != Setup.segviz.rawValue && !row.name.hasPrefix("individual-") {
            if let s = mean(Setup.segviz.rawValue, row.organ) { c.minusSegviz[row.name, default: [:]][row.organ] = row.dice.mean - s }
        }
        let globals = [Setup.global, .globalDistill].map(\.rawValue).compactMap { c.minusSegviz[$0] }.filter { $0.count == organs.count }
        if !globals.isEmpty {
            c.globalBeatsHeads = globals.contains { d in d.values.reduce(0, +) / Double(d.count) > 0 }
        }
        for row in table { c.stability[row.name, default: [:]][row.organ] = Stability.of(row.diceByRound) }
        var recipeSecurePlain: [String: Double] = [:]
        for o in organs {
            if let s = mean(Setup.recipeSecure.rawValue, o), let p = mean(Setup.recipe.rawValue, o) { recipeSecurePlain[o] = s - p }
        }
        if recipeSecurePlain.count == organs.count {
            c.recipeSecureMinusPlainDice = recipeSecurePlain
            c.recipeSecureWithin001OfPlain = recipeSecurePlain.values.allSatisfy { abs($0) <= 0.01 }
        }
        var recipeCentralised: [String: Double] = [:]
        for o in organs {
            if let r = mean(Setup.recipe.rawValue, o), let z = mean(Setup.centralised.rawValue, o) { recipeCentralised[o] = r - z }
        }
        if recipeCentralised.count == organs.count {
            c.recipeMinusCentralisedDice = recipeCentralised
            c.recipeWithin002OfCentralised = recipeCentralised.values.allSatisfy { $0 >= -0.02 }
        }
        for row in table where row.diceByRound.count >= 2 {
            let late = row.diceByRound.suffix(max(1, row.diceByRound.count / 2))
            c.lateRoundSwing[row.name, default: [:]][row.organ] = (late.max() ?? 0) - (late.min() ?? 0)
        }
        return c
    }
}
