import Foundation

/// The external-set Dice of one run after one round.
public struct RoundDice: Codable, Sendable, Equatable {
    /// Round (or, for the baselines and the centralised model, the same number of local epochs).
    public var round: Int
    /// Mean Dice over the external cases per organ.
    public var dice: [String: Double]
}

/// Secure vs plain aggregation of the same round's updates (same starting weights, same contributions).
public struct SecureRoundCheck: Codable, Sendable, Equatable {
    /// Round.
    public var round: Int
    /// Largest element-wise |secure mean - plain mean|.
    public var maxAbsDifference: Double
    /// The protocol's per-element bound (one quantum, 2 clip / levels).
    public var bound: Double
    /// Largest |update| any site sent (above the clipping range, clipping would add error beyond the bound).
    public var maxAbsUpdate: Double
}

/// One trained model of one setup and seed, and how it scored.
public struct SetupRun: Codable, Sendable, Equatable {
    /// Row name in the report: the setup, or `individual-<site>` for a baseline.
    public var name: String
    /// The setup (raw value of ``Setup``).
    public var setup: String
    /// Seed repeat, from 0.
    public var seed: Int
    /// Organs this run predicts.
    public var organs: [String]
    /// External Dice after every round.
    public var rounds: [RoundDice]
    /// Final per-case scores.
    public var cases: [CaseScore]
    /// Wall-clock seconds (training and per-round evaluation).
    public var seconds: Double
    /// Secure-vs-plain checks, one per round (secure setup only).
    public var secureChecks: [SecureRoundCheck]?
    /// The largest |update| any site sent, per round (federated setups): what the secure-aggregation clip must cover.
    public var largestUpdates: [Double]? = nil
}

/// Mean and spread of one metric.
public struct Spread: Codable, Sendable, Equatable {
    /// Mean over every (seed, case).
    public var mean: Double
    /// Standard deviation over external cases (averaged over seeds).
    public var sdCases: Double
    /// Standard deviation of the per-seed means (nil with one seed).
    public var sdSeeds: Double?
    /// Values that went into the mean.
    public var count: Int

    /// The spread of `perSeed` (one array of case values per seed); nil when there are no values.
    public static func of(_ perSeed: [[Double]]) -> Spread? {
        let all = perSeed.flatMap { $0 }
        guard !all.isEmpty else { return nil }
        let filled = perSeed.filter { !$0.isEmpty }
        let means = filled.map { $0.reduce(0, +) / Double($0.count) }
        return Spread(mean: all.reduce(0, +) / Double(all.count),
                      sdCases: filled.map(sd).reduce(0, +) / Double(filled.count),
                      sdSeeds: means.count > 1 ? sd(means) : nil, count: all.count)
    }

    static func sd(_ v: [Double]) -> Double {
        guard v.count > 1 else { return 0 }
        let m = v.reduce(0, +) / Double(v.count)
        return (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count - 1)).squareRoot()
    }
}

/// One row of the paper-style table: a run name and organ.
public struct TableRow: Codable, Sendable, Equatable {
    /// Run name (see ``SetupRun/name``).
    public var name: String
    /// Report label.
    public var title: String
    /// Organ.
    public var organ: String
    /// Dice over external cases and seeds.
    public var dice: Spread
    /// HD95 in mm (cases where prediction or truth is empty are left out; see `hd95Missing`).
    public var hd95: Spread?
    /// Cases without an HD95 (empty prediction).
    public var hd95Missing: Int
    /// Mean Dice over seeds after each round.
    public var diceByRound: [Double]
}

/// Everything `results.json` holds: the configuration, every run, the table and the checks of the claims.
public struct ExperimentResults: Codable, Sendable {
    /// The configuration that ran.
    public var config: ExperimentConfig
    /// Every run of every seed.
    public var runs: [SetupRun]
    /// The table (run x organ).
    public var table: [TableRow]
    /// The comparisons the issue asks about.
    public var claims: Claims
    /// Overlay images (file names beside report.html) and the cases they show.
    public var overlays: [OverlayRecord]
    /// Seconds for the whole experiment and per setup (summed over seeds).
    public var seconds: Double
    /// Seconds per setup.
    public var setupSeconds: [String: Double]
    /// When it finished (ISO 8601).
    public var finished: String
    /// The privacy sweep (`--privacy-sweep`): per target epsilon the DP-SGD settings, steps, spent epsilon and Dice.
    public var privacySweep: PrivacySweepResults? = nil
}

/// An overlay image of one external case.
public struct OverlayRecord: Codable, Sendable, Equatable {
    /// `best`, `median` or `worst`.
    public var rank: String
    /// External case id.
    public var caseID: String
    /// The run whose mean Dice ranked the cases.
    public var rankedBy: String
    /// That run's mean organ Dice on this case.
    public var dice: Double
    /// PNG file name beside the report.
    public var file: String
}
