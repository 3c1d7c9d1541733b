import Federation
import Foundation
import NN

/// One site's privacy in one setup of the sweep.
public struct SitePrivacy: Codable, Sendable, Equatable {
    /// Site id.
    public var id: String
    /// Its patients (privacy units).
    public var patients: Int
    /// DP-SGD steps its training took over all rounds (as the training loop reported them).
    public var steps: Int
    /// The epsilon those steps spent at the sweep's delta (the accountant over the steps taken).
    public var spentEpsilon: Double
}

/// One setup of the sweep: the recipe at one target epsilon, or without privacy.
public struct PrivacyPoint: Codable, Sendable, Equatable {
    /// Run name (``SetupRun/name``): `recipe-dp-eps<target>`, or `recipe` without privacy.
    public var name: String
    /// Target epsilon; nil without privacy.
    public var targetEpsilon: Double?
    /// Delta, clip, sampling rate and the noise multiplier the accountant derived for the planned steps (nil without privacy).
    public var delta: Double?, clip: Double?, sampleRate: Double?, noiseMultiplier: Double?
    /// Steps per site the noise multiplier was derived for: rounds x local epochs x ceil(1 / sampleRate).
    public var plannedSteps: Int?
    /// Per site: steps taken and epsilon spent (empty without privacy).
    public var sites: [SitePrivacy]
    /// The largest spent epsilon over the sites (nil without privacy).
    public var spentEpsilon: Double?
    /// Final external Dice per organ: mean over cases and seeds, and SD over cases.
    public var dice: [String: Double], diceSD: [String: Double]
    /// Wall-clock seconds over every seed.
    public var seconds: Double
    /// Mean gradient L2 norm before clipping (per patient with privacy, per batch without) over sites, epochs and
    /// seeds: how hard the clip bites.
    public var meanGradientNorm: Double = 0

    /// Label in the report and the table.
    public var title: String {
        guard let t = targetEpsilon else { return "No DP (same recipe and rounds)" }
        return "DP-SGD, target epsilon \(PrivacyPoint.format(t))"
    }

    /// `epsilon` as the run names and labels spell it (`4`, `0.5`).
    public static func format(_ epsilon: Double) -> String { String(format: "%g", epsilon) }
}

/// The sweep in `results.json`: its settings and one point per setup, targets ascending, the run without privacy last.
public struct PrivacySweepResults: Codable, Sendable, Equatable {
    /// The sweep's configuration section.
    public var settings: ExperimentConfig.PrivacySweep
    /// Rounds and local epochs of every setup.
    public var rounds: Int, localEpochs: Int
    /// Every setup.
    public var points: [PrivacyPoint]
}

/// Runs the sweep: for each target epsilon the federation file's `privacy` object gives the DP-SGD settings (the
/// noise multiplier for the planned steps, as a node derives it), ``ExperimentRunner/runRecipe(name:privacy:seed:)``
/// trains the recipe with them through Federation's `SiteTraining`, and each site's account over the steps taken
/// gives the epsilon spent.
enum PrivacySweepRunner {
    /// Every run of every seed and the points without their Dice (``withDice(_:table:)`` adds them).
    static func run(config: ExperimentConfig, runner: ExperimentRunner, log: (String) -> Void) throws -> (runs: [SetupRun], sweep: PrivacySweepResults) {
        let s = config.privacySweep
        let rounds = config.training.rounds, epochs = config.training.localEpochs
        var targets: [Double?] = s.epsilons
        if s.includeNoPrivacy { targets.append(nil) }
        var points: [PrivacyPoint] = [], settings: [DPSGDSettings?] = []
        for target in targets {
            var point = PrivacyPoint(name: "recipe", targetEpsilon: target, sites: [], dice: [:], diceSD: [:], seconds: 0)
            var dp: DPSGDSettings?
            if let target {
                let spec = s.spec(epsilon: target)
                let d = try spec.settings(rounds: rounds, localEpochs: epochs)
                dp = d
                point.name = "recipe-dp-eps\(PrivacyPoint.format(target))"
                point.delta = s.delta
                point.clip = s.clip
                point.sampleRate = s.sampleRate
                point.noiseMultiplier = d.noiseMultiplier
                point.plannedSteps = rounds * spec.stepsPerRound(localEpochs: epochs)
                log(String(format: "privacy sweep: target epsilon %g: noise multiplier %.4g for %d steps per site (q %g, clip %g, delta %g)",
                           target, d.noiseMultiplier, point.plannedSteps ?? 0, s.sampleRate, s.clip, s.delta))
            }
            points.append(point)
            settings.append(dp)
        }
        var runs: [SetupRun] = []
        for seed in 0..<config.seeds {
            for n in points.indices {
                let (run, accounts, norm) = try runner.runRecipe(name: points[n].name, privacy: settings[n], seed: seed)
                runs.append(run)
                points[n].seconds += run.seconds
                points[n].meanGradientNorm += norm / Double(config.seeds)
                guard settings[n] != nil else { continue }
                for (k, site) in runner.data.sites.enumerated() {
                    let spent = try accounts[k].epsilon(delta: s.delta).epsilon
                    let mine = SitePrivacy(id: site.id, patients: site.set.items.count, steps: accounts[k].steps, spentEpsilon: spent)
                    // Every seed takes the same steps; keep the most any seed spent.
                    if k >= points[n].sites.count {
                        points[n].sites.append(mine)
                    } else if spent > points[n].sites[k].spentEpsilon {
                        points[n].sites[k] = mine
                    }
                }
                points[n].spentEpsilon = points[n].sites.map(\.spentEpsilon).max()
                log(String(format: "privacy sweep: %@ spent %@ (target epsilon %g)", points[n].name,
                           points[n].sites.map { String(format: "%@ epsilon %.4f in %d steps", $0.id, $0.spentEpsilon, $0.steps) }
                               .joined(separator: ", "), points[n].targetEpsilon ?? 0))
            }
        }
        return (runs, PrivacySweepResults(settings: s, rounds: rounds, localEpochs: epochs, points: points))
    }

    /// `sweep` with each point's final Dice from the table (mean over cases and seeds, SD over cases).
    static func withDice(_ sweep: PrivacySweepResults, table: [TableRow]) -> PrivacySweepResults {
        var out = sweep
        for n in out.points.indices {
            for row in table where row.name == out.points[n].name {
                out.points[n].dice[row.organ] = row.dice.mean
                out.points[n].diceSD[row.organ] = row.dice.sdCases
            }
        }
        return out
    }

    /// `table` with the sweep's labels as row titles.
    static func retitled(_ table: [TableRow], _ sweep: PrivacySweepResults) -> [TableRow] {
        table.map { row in
            var r = row
            if let p = sweep.points.first(where: { $0.name == row.name }) { r.title = p.title }
            return r
        }
    }
}
