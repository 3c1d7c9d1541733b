import ArgumentParser
import Federation
import FederationTools
import Foundation
import Imaging
import Tensor

/// `segviz demo`: a whole secure federation on this machine, from phantoms to a verified, segmenting model.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a complete secure federation on loopback: phantom sites, keys, aggregator and node processes, rounds, verify, infer.",
        discussion: """
        Four sites: two liver-only and two spleen-only MSD sites (so that no organ block has a single contributor and,
        at the threshold that resists colluding nodes, 3 of 4, one site may drop out), plus a BTCV-style external set
        with both organs labelled. Each site holds out --held-out of its cases, on which it scores every global model it
        receives; the aggregator learns only the sums (through secure aggregation) and signs the best-scoring model as
        global-best.safetensors. The external set only reports. The last line is
        dice_liver=<x> dice_spleen=<y> best_dice_liver=<x> best_dice_spleen=<y> best_round=<r> rounds=<n> secure=1
        model=<path> best_model=<path> pubkey=<path> external=<path> (dice_*: the last model; best_*: the selected one).
        """)

    @Option(help: "Work folder (default: a new runs/demo-<time>).") var workdir: String?
    @Option(help: "Secure rounds.") var rounds: Int = 25
    @Option(help: "Local epochs per round.") var localEpochs: Int = 5
    @Option(help: "Training cases per site.") var cases: Int = 8
    @Option(help: "External (BTCV-style) evaluation cases.") var externalCases: Int = 4
    @Option(help: "Phantom size in voxels i,j,k (unused: phantoms are scanned on clinical-like grids and resampled to --spacing).") var size: String = "64,64,48"
    @Option(help: "Phantom and training voxel size (mm).") var spacing: Double = 4.5
    @Option(help: "U-Net channels per level.") var channels: String = "8,16,32,64"
    @Option(help: "Training patch along i,j,k of the RAS grid (MONAI's order).") var patch: String = "48,48,32"
    @Option(help: "Aggregation strategy: single or heads.") var strategy: String = "single"
    @Option(help: "Normalisation in the U-Net: instance (the recipe's) or batch.") var norm: String = "instance"
    @Option(help: "Adam learning rate at the nodes (first step of the cosine schedule).") var lr: Double = 2e-3
    @Option(help: "The cosine schedule's rate after the last round.") var finalLr: Double = Double(TrainingRecipe.defaults.finalLearningRate)
    @Option(help: "Patches drawn per training case and epoch.") var patchesPerVolume: Int = 4
    @Option(help: "Probability of mirroring a training patch left-right (0: the body's side stays a cue).")
    var mirror: Double = Augmentation.standard.mirrorLeftRight
    @Option(help: "Probability of flipping a training patch along each voxel axis (MONAI's RandFlipd per axis).")
    var axisFlip: Double = TrainingRecipe.defaults.axisFlip
    @Option(help: "Share of patches centred on an annotated organ (the rest: random voxels inside the body).")
    var positiveFraction: Double = TrainingRecipe.defaults.positiveFraction
    @Option(help: "Probability of rotating, scaling and deforming a training patch.")
    var spatialAugmentation: Double = Augmentation.standard.spatialProbability
    @Option(help: "Distillation for the organs a node does not annotate: none (the marginal loss alone), soft (ConDistFL) or hard.")
    var distillation: String = TrainingRecipe.defaults.distillation.rawValue
    @Option(help: "Weight of the exclusion loss (Shi et al. 2021; 0: off).") var exclusionWeight: Double = 0
    @Option(help: "Phantom seeds of the four sites (liver-a, spleen-b, liver-c, spleen-d); the external set's stays 99.")
    var siteSeeds: String = "11,22,33,44"
    @Option(help: "Cases each site holds out of training to score the global models (model selection); 0: none.")
    var heldOut: Int = 2
    @Option(help: "Server optimiser on the aggregated update: fedavg, fedavgm, fedadam or fedyogi (default: the recommended fedavgm, η 2, β₁ 0).")
    var serverOptimizer: String = FederationFile.ServerOptimizerSpec.recommended.name.rawValue
    @Option(help: "Server learning rate (fedavgm: 1 is plain momentum; fedadam/fedyogi: about 0.01-0.1).")
    var serverLr: Double = FederationFile.ServerOptimizerSpec.recommended.learningRate
    @Option(help: "Server momentum or first-moment decay β₁ (fedavgm with 0: the mean update scaled by --server-lr; fedadam/fedyogi: about 0.9).")
    var serverMomentum: Double = FederationFile.ServerOptimizerSpec.recommended.beta1
    @Option(help: "Weighting of each node's update in the mean: organ-balanced (the recommended; with two liver and two spleen sites the same as samples) or samples.")
    var weighting: String = Weighting.organBalanced.rawValue
    @Flag(help: "Make one node vanish in the middle of round 2 (after sharing its keys), to show dropout recovery.")
    var dropNode = false

    func run() async throws {
        try await failingAsync { try await runDemo() }
    }

    func runDemo() async throws {
        guard let strat = FederationFile.Strategy(rawValue: strategy) else { throw ValidationError("--strategy must be single or heads") }
        guard ["batch", "instance"].contains(norm) else { throw ValidationError("--norm must be batch or instance") }
        guard TrainingRecipe.Distillation(rawValue: distillation) != nil else { throw ValidationError("--distillation must be soft, hard or none") }
        guard exclusionWeight >= 0 else { throw ValidationError("--exclusion-weight must not be negative") }
        guard (0...1).contains(mirror), (0...1).contains(spatialAugmentation), (0...1).contains(axisFlip),
              (0...1).contains(positiveFraction) else {
            throw ValidationError("--mirror, --spatial-augmentation, --axis-flip and --positive-fraction are in 0...1")
        }
        guard finalLr >= 0, finalLr <= lr, patchesPerVolume >= 1 else {
            throw ValidationError("--final-lr must be in 0...--lr and --patches-per-volume at least 1")
        }
        guard let optimiser = FederationFile.ServerOptimizerSpec.Name(rawValue: serverOptimizer) else {
            throw ValidationError("--server-optimizer must be one of fedavg, fedavgm, fedadam, fedyogi")
        }
        guard serverLr > 0, (0..<1).contains(serverMomentum) else {
            throw ValidationError("--server-lr must be positive and --server-momentum in 0..<1")
        }
        guard let weights = Weighting(rawValue: weighting) else {
            throw ValidationError("--weighting must be organ-balanced or samples")
        }
        guard heldOut >= 0, heldOut < cases else { throw ValidationError("--held-out must be within 0..<--cases (\(cases))") }
        let ch = channels.split(separator: ",").compactMap { Int($0) }
        let p = patch.split(separator: ",").compactMap { Int($0) }
        guard ch.count >= 2, p.count == 3 else { throw ValidationError("--channels needs 2+ numbers and --patch three") }
        let dims = try parseTriple(size, option: "--size").map { Int($0) }
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let work = URL(fileURLWithPath: workdir ?? "runs/demo-\(stamp)").standardizedFileURL
        let fm = FileManager.default
        if fm.fileExists(atPath: work.appendingPathComponent("keys").path) {
            throw ValidationError("\(work.path) already holds a federation; give a new --workdir")
        }
        try fm.createDirectory(at: work, withIntermediateDirectories: true)
        say("work folder: \(work.path)")
        let t0 = Date()

        // 1. Phantom sites and the external set (generated on the compute pool, not on the cooperative pool).
        // Each case scanned on its own clinical-like grid, then resampled to the training spacing.
        let gen = PhantomGenerator(dims: dims, spacing: SIMD3(spacing, spacing, spacing), scanner: true)
        let seeds = siteSeeds.split(separator: ",").compactMap { UInt64($0.trimmingCharacters(in: .whitespaces)) }
        guard seeds.count == 4, Set(seeds).count == 4, !seeds.contains(99) else {
            throw ValidationError("--site-seeds needs four different seeds, none of them the external set's 99")
        }
        let sites: [(id: String, annotate: PhantomAnnotation, seed: UInt64)] = [
            ("liver-a", .liver, seeds[0]), ("spleen-b", .spleen, seeds[1]), ("liver-c", .liver, seeds[2]), ("spleen-d", .spleen, seeds[3])]
        let external = work.appendingPathComponent("external")
        let (cases, externalCases) = (cases, externalCases)
        let siteList = sites.map { ($0.id, $0.annotate, $0.seed) }
        let (mappings, externalMapping) = try await ComputePool.shared.run { () throws -> ([String: String], String) in
            var mappings: [String: String] = [:]
            for (id, annotate, seed) in siteList {
                let w = PhantomDatasetWriter(generator: gen, layout: .msd, annotate: annotate, seed: seed)
                _ = try w.write(to: work.appendingPathComponent("sites/\(id)"), cases: cases)
                mappings[id] = w.labelMapping
            }
            let extWriter = PhantomDatasetWriter(generator: gen, layout: .btcv, annotate: .all, seed: 99)
            _ = try extWriter.write(to: external, cases: externalCases)
            return (mappings, extWriter.labelMapping)
        }
        say("phantoms: \(sites.count) sites x \(cases) cases (liver-only, spleen-only, liver-only, spleen-only) + \(externalCases) external BTCV-style cases")

        // 2. Keys and the federation file.
        let port = try freeLoopbackPort()
        let keys = work.appendingPathComponent("keys").path
        let organs: [String: [String]] = ["liver-a": ["liver"], "spleen-b": ["spleen"], "liver-c": ["liver"], "spleen-d": ["spleen"]]
        let f = try FederationSetup.create(keysDirectory: keys, name: "segviz-demo", url: "http://127.0.0.1:\(port)",
                                           nodes: sites.map { .init(id: $0.id, organs: organs[$0.id]!) }) { f in
            f.rounds = rounds
            f.localEpochs = localEpochs
            f.strategy = strat
            f.network.channels = ch
            f.network.strides = Array(repeating: 2, count: ch.count - 1)
            f.network.norm = norm
            f.training.learningRate = lr
            f.training.distillation = distillation
            f.training.exclusionWeight = exclusionWeight
            f.training.finalLearningRate = finalLr
            f.training.patchesPerVolume = patchesPerVolume
            f.training.mirrorLeftRight = mirror
            f.training.spatialAugmentation = spatialAugmentation
            f.training.axisFlip = axisFlip
            f.training.positiveFraction = positiveFraction
            f.training.patch = p
            f.training.spacing = [spacing, spacing, spacing]
            f.serverOptimizer = optimiser == .fedavg ? nil : .init(name: optimiser, learningRate: serverLr, beta1: serverMomentum)
            f.modelSelection = heldOut > 0 ? .init(heldOutCases: heldOut) : nil
            f.weighting = weights == .samples ? nil : weights
        }
        say("keys: aggregator + \(f.nodes.count) nodes in \(keys); federation file \(keys)/federation.json (threshold \(f.secureAggregation.threshold) of \(f.nodes.count))")

        // 3. Aggregator and nodes as separate processes.
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let logs = work.appendingPathComponent("logs")
        try fm.createDirectory(at: logs, withIntermediateDirectories: true)
        let fedPath = "\(keys)/federation.json"
        let agg = try ChildProcess(exe, ["aggregator", "--federation", fedPath, "--state", work.appendingPathComponent("state").path,
                                         "--evaluate", external.path, "--evaluate-labels", externalMapping, "--threads", "1"],
                                   log: logs.appendingPathComponent("aggregator.log"), echo: { line in
                                       if line.contains("completed") || line.contains("evaluation") || line.contains("aborted")
                                           || line.contains("started") || line.contains("dropped") || line.contains("deadline")
                                           || line.contains("federation") || line.contains("waiting") || line.contains("interrupted") {
                                           say("  " + line.split(separator: "]", maxSplits: 1).last!.trimmingCharacters(in: .whitespaces))
                                       }
                                   })
        var nodes: [ChildProcess] = []
        for (i, s) in sites.enumerated() {
            var args = ["node", "--federation", fedPath, "--id", s.id, "--key", "\(keys)/\(s.id).key",
                        "--dataset", work.appendingPathComponent("sites/\(s.id)").path, "--labels", mappings[s.id]!, "--threads", "1",
                        "--state", work.appendingPathComponent("node-state/\(s.id)").path]
            if dropNode && i == sites.count - 1 {
                args += ["--crash-at", NodePhase.secureAggregation(.maskedInput).name, "--crash-round", "2"]
                say("--drop-node: \(s.id) will vanish in round 2 after sharing its keys")
            }
            nodes.append(try ChildProcess(exe, args, log: logs.appendingPathComponent("\(s.id).log")))
        }
        let aggStatus = await agg.wait()
        for n in nodes { n.terminate() }
        for n in nodes { _ = await n.wait() }
        guard aggStatus == 0 else { throw ValidationError("aggregator exited with status \(aggStatus); see \(logs.path)/aggregator.log") }

        // 4. Verify the final model, evaluate it, and segment an external case with `segviz infer`.
        let state = work.appendingPathComponent("state")
        let ledger = try Ledger(path: state.appendingPathComponent("ledger.sqlite").path)
        let pub = try KeyFiles.loadPublicKey(path: "\(keys)/aggregator.pub")
        let check = try ledger.verify(aggregatorKey: pub)
        guard check.ok else { throw ValidationError("ledger does not verify: \(check.problems)") }
        guard let last = check.records.last(where: { $0.status == .completed }) else {
            throw ValidationError("no round completed; see \(logs.path)")
        }
        let modelPath = ModelStore.path(stateDirectory: state.path, round: last.round)
        let verified = try VerifiedModel.open(path: modelPath, publicKey: pub)
        say("verified \(modelPath) (\(verified.trustedComment)); ledger: \(check.records.count) round(s), chain OK")
        let inference = try GlobalModelInference(verified: verified, roi: p)
        let ds = try Dataset.open(external)
        let mapping = try LabelMapping(parsing: externalMapping)
        let evaluation = ComputePool(jobs: 1, kernelThreads: ProcessInfo.processInfo.activeProcessorCount)
        let dice = try await evaluation.run { try inference.meanDice(dataset: ds, mapping: mapping) }
        let firstCase = ds.training[0].image.path
        let mask = work.appendingPathComponent("external-case0-mask.nii.gz").path
        let infer = try ChildProcess(exe, ["infer", "--model", modelPath, "--pubkey", "\(keys)/aggregator.pub",
                                           "--input", firstCase, "--output", mask], log: logs.appendingPathComponent("infer.log"))
        guard await infer.wait() == 0 else { throw ValidationError("segviz infer failed; see \(logs.path)/infer.log") }
        say("segviz infer wrote \(mask)")
        // 5. The model selected on the sites' held-out cases, evaluated on the external set (reporting only).
        let best = try await DemoBest.evaluate(state: state.path, records: check.records, last: (last.round, modelPath, dice),
                                               publicKey: pub, roi: p, dataset: ds, mapping: mapping, pool: evaluation, say: say)
        say(String(format: "done in %.0f s", Date().timeIntervalSince(t0)))
        print(String(format: "dice_liver=%.4f dice_spleen=%.4f best_dice_liver=%.4f best_dice_spleen=%.4f best_round=%d rounds=%d secure=1 model=%@ best_model=%@ pubkey=%@ external=%@",
                     dice["liver"] ?? 0, dice["spleen"] ?? 0, best.dice["liver"] ?? 0, best.dice["spleen"] ?? 0, best.round,
                     check.records.filter { $0.status == .completed }.count,
                     modelPath, best.path, "\(keys)/aggregator.pub", external.path))
    }

    private func say(_ s: String) {
        print(s)
        fflush(nil)
    }
}
