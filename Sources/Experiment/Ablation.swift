import Federation
import Foundation
import Imaging
import Tensor

/// The recipe's ablation: the global model trained as before this recipe (batch norm, a fresh Adam at a constant
/// rate every round, the marginal loss alone), that setup with one change at a time, and the whole recipe, on
/// one seed pair (the configuration's sites and training seed), each scored per organ on the external set after
/// every round. The server optimiser (aggregator side) is not part of the local recipe; a step for it is one more
/// entry of ``steps(from:)`` once the experiment's aggregation has one.
public enum Ablation {
    /// One configuration of the ladder.
    public struct Step: Sendable {
        /// Short name (`old`, `+instance-norm`, ...).
        public var name: String
        /// What differs from the old setup.
        public var change: String
        /// The configuration (setups: `recipe` only).
        public var config: ExperimentConfig
    }

    /// One step's result.
    public struct Row: Codable, Sendable, Equatable {
        /// Step name.
        public var name: String
        /// What differs from the old setup.
        public var change: String
        /// Per organ: final, last-five mean and minimum, largest round-to-round change.
        public var stability: [String: Stability]
        /// External Dice per round and organ.
        public var rounds: [RoundDice]
        /// Largest |update| any site sent, per round.
        public var largestUpdates: [Double]
        /// Wall-clock seconds.
        public var seconds: Double
    }

    /// The old setup (plain FedAvg), each single change from it, and the full recipe (from `base`'s recipe settings
    /// and server optimiser).
    public static func steps(from base: ExperimentConfig) -> [Step] {
        var old = base
        old.setups = [Setup.recipe.rawValue]
        old.seeds = 1
        old.network.norm = "batch"
        old.recipe.learningRateSchedule = "constant"
        old.recipe.gradientClipNorm = 0
        old.recipe.keepOptimiserState = false
        old.recipe.distillation = "none"
        old.recipe.exclusionWeight = 0
        old.recipe.axisFlip = 0.1
        old.serverOptimizer = .fedavg
        old.weighting = .samples
        func step(_ name: String, _ change: String, _ edit: (inout ExperimentConfig) -> Void) -> Step {
            var c = old
            edit(&c)
            return Step(name: name, change: change, config: c)
        }
        let full = base.recipe
        return [
            step("old", "batch norm, constant rate, fresh Adam each round, no clipping, marginal loss, axis flips 0.1") { _ in },
            step("+instance-norm", "instance norm") { $0.network.norm = "instance" },
            step("+schedule", "cosine schedule over rounds, Adam state kept, gradient-norm clip \(full.gradientClipNorm)") {
                $0.recipe.learningRateSchedule = full.learningRateSchedule
                $0.recipe.gradientClipNorm = full.gradientClipNorm
                $0.recipe.keepOptimiserState = true
            },
            step("+hard-distillation", "teacher's argmax labels for unannotated organs (from round 2)") { $0.recipe.distillation = "hard" },
            step("+soft-distillation", "ConDistFL soft conditional distillation, weight \(full.distillationWeight)") {
                $0.recipe.distillation = "soft"
                $0.recipe.distillationWeight = full.distillationWeight
                $0.recipe.distillationTemperature = full.distillationTemperature
            },
            step("+exclusion", "exclusion loss, weight 1") { $0.recipe.exclusionWeight = 1 },
            step("+no-axis-flips", "no flips along the voxel axes (axisFlip \(full.axisFlip))") { $0.recipe.axisFlip = full.axisFlip },
            step("+server-step", "server optimiser \(base.serverOptimizer.manifestText)") { $0.serverOptimizer = base.serverOptimizer },
            step("+organ-balance", "weighting \(base.weighting.rawValue)") { $0.weighting = base.weighting },
            step("recipe", "the whole shipped recipe (\(base.network.norm) norm, \(full.learningRateSchedule) schedule, distillation \(full.distillation), axisFlip \(full.axisFlip), server \(base.serverOptimizer.name.rawValue) η \(base.serverOptimizer.learningRate), weighting \(base.weighting.rawValue))") {
                $0.network.norm = base.network.norm
                $0.recipe = full
                $0.serverOptimizer = base.serverOptimizer
                $0.weighting = base.weighting
            },
        ]
    }

    /// Runs every step on the same phantoms into `out`: `ablation.json` (every row) and `ablation.md` (the table).
    @discardableResult
    public static func run(config: ExperimentConfig, out: URL, log: @escaping (String) -> Void) throws -> [Row] {
        let fm = FileManager.default
        do { try fm.createDirectory(at: out, withIntermediateDirectories: true) } catch {
            throw ExperimentError.io(path: out.path, problem: "cannot create the output folder: \(error.localizedDescription)")
        }
        Compute.threads = config.threads
        let data = try ExperimentData.prepare(config, in: out.appendingPathComponent("data"), log: log)
        var rows: [Row] = []
        for s in steps(from: config) {
            log("ablation step \(s.name): \(s.change)")
            let t0 = Date()
            let runner = ExperimentRunner(config: s.config, data: data, log: log)
            guard let run = try runner.run(.recipe, seed: 0).first else { continue }
            var stability: [String: Stability] = [:]
            for o in run.organs { stability[o] = Stability.of(run.rounds.map { $0.dice[o] ?? 0 }) }
            rows.append(Row(name: s.name, change: s.change, stability: stability, rounds: run.rounds,
                            largestUpdates: run.largestUpdates ?? [], seconds: Date().timeIntervalSince(t0)))
            try write(rows: rows, config: config, out: out)
        }
        return rows
    }

    /// The table as Markdown: per step and organ, final Dice, last-five mean and minimum, largest change.
    public static func markdown(_ rows: [Row]) -> String {
        var s = "| step | organ | final | mean last 5 | min last 5 | largest change | largest update | minutes |\n"
        s += "|---|---|---|---|---|---|---|---|\n"
        for r in rows {
            for organ in r.stability.keys.sorted() {
                guard let st = r.stability[organ] else { continue }
                s += String(format: "| %@ | %@ | %.3f | %.3f | %.3f | %.3f | %.3g | %.1f |\n", r.name, organ, st.final, st.meanLast5,
                            st.minLast5, st.largestChange, r.largestUpdates.max() ?? 0, r.seconds / 60)
            }
        }
        return s
    }

    static func write(rows: [Row], config: ExperimentConfig, out: URL) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try ExperimentPipeline.write(try config.encoded(), to: out.appendingPathComponent("config.json"))
        try ExperimentPipeline.write(try enc.encode(rows), to: out.appendingPathComponent("ablation.json"))
        try ExperimentPipeline.write(Data(markdown(rows).utf8), to: out.appendingPathComponent("ablation.md"))
    }
}
