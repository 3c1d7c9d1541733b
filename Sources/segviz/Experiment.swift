import ArgumentParser
import Experiment
import Foundation

/// `segviz experiment`: baselines vs federated vs secure vs one global model, in one report.
struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Reproduce the SegViz experiment on phantom sites: baselines, centralised, SegViz (plain, secure, FedBN), one global model.",
        discussion: """
        Trains and evaluates every setup in-process on the same sites, external set, seeds and training budget, then writes
        DIR/report.html (self-contained), DIR/results.json (every number in the report), DIR/dice-per-round.png,
        DIR/overlay-{best,median,worst}.png and DIR/config.json. The JSON --config names only the fields it changes
        (see README); --quick starts from the quick preset instead of the default one. --privacy-sweep starts from the
        privacy sweep's preset and trains the shipped recipe with patient-level DP-SGD at each target epsilon of the
        configuration's privacySweep section (and without privacy), adding DIR/dice-vs-epsilon.png and its table.
        """)

    @Option(help: "Experiment configuration (JSON); fields it leaves out keep the preset's values.") var config: String?
    @Option(help: "Output folder (created; files in it are replaced).") var out: String
    @Option(help: "Seed repeats (overrides the configuration's 'seeds').") var seeds: Int?
    @Flag(help: "Start from the quick preset (fewer cases, rounds and epochs; under 10 minutes on 2 cores).") var quick = false
    @Flag(help: "Print the effective configuration and exit.") var showConfig = false
    @Flag(help: "Run the recipe's ablation instead (old setup, one change at a time, the whole recipe; one seed pair) into DIR/ablation.{json,md}.")
    var ablation = false
    @Flag(help: "Run the privacy sweep instead: final Dice per organ against target epsilon (DP-SGD at every site) and without privacy, at fixed rounds; starts from its own preset (about 15 minutes on 2 cores).")
    var privacySweep = false

    func validate() throws {
        if privacySweep && (quick || ablation) { throw ValidationError("--privacy-sweep has its own preset: leave out --quick and --ablation") }
    }

    func run() throws {
        try failing {
            var c = privacySweep ? ExperimentConfig.privacySweepPreset : quick ? ExperimentConfig.quick : ExperimentConfig.standard
            if let config { c = try ExperimentConfig.load(path: config, over: c) }
            if let seeds {
                c.seeds = seeds
                try c.validate(path: "--seeds")
            }
            if privacySweep { try c.validatePrivacySweep(path: config ?? "(privacy sweep preset)") }
            if showConfig {
                print(String(decoding: try c.encoded(), as: UTF8.self))
                return
            }
            let started = Date()
            if ablation {
                let rows = try Ablation.run(config: c, out: URL(fileURLWithPath: out).standardizedFileURL) { logLine("experiment", $0) }
                print(Ablation.markdown(rows), terminator: "")
                print(String(format: "minutes=%.1f ablation=%@", Date().timeIntervalSince(started) / 60,
                             URL(fileURLWithPath: out).appendingPathComponent("ablation.md").path))
                return
            }
            let results = try ExperimentPipeline.run(config: c, out: URL(fileURLWithPath: out).standardizedFileURL,
                                                     privacySweep: privacySweep) { logLine("experiment", $0) }
            for p in results.privacySweep?.points ?? [] {
                print("\(p.name) target_epsilon=\(p.targetEpsilon.map { "\($0)" } ?? "none") spent_epsilon="
                    + (p.spentEpsilon.map { String(format: "%.4f", $0) } ?? "0") + " noise_multiplier=\(p.noiseMultiplier ?? 0)"
                    + String(format: " liver=%.4f spleen=%.4f", p.dice["liver"] ?? 0, p.dice["spleen"] ?? 0))
            }
            let dice = results.table.map { String(format: "%@_%@=%.4f", $0.name, $0.organ, $0.dice.mean) }.joined(separator: " ")
            print(String(format: "minutes=%.1f %@ report=%@", Date().timeIntervalSince(started) / 60, dice,
                         URL(fileURLWithPath: out).appendingPathComponent("report.html").path))
        }
    }
}
