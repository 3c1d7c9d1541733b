import Foundation
import Imaging
import NN
import Tensor

/// A node's local training on its own data set: the `TrainingSet` is loaded and preprocessed once, then each
/// round trains the global model for the federation's local epochs with the federation's ``TrainingRecipe``
/// (``SiteTraining``). Adam's state carries over between rounds: in memory, and with a state folder in
/// DIR/``OptimiserState/fileName`` (read at start, written atomically after each round's training).
public struct SiteTrainer: LocalTrainer {
    /// The training loop over the loaded set.
    public let training: SiteTraining
    /// The held-out cases that score each received global model (with `modelSelection`), never trained on.
    public let validation: HeldOutValidation?
    let log: @Sendable (String) -> Void
    let optimiser: OptimiserMemory

    /// Loads `dataset` with `mapping` and the federation's preprocessing; refuses a data set with bad cases
    /// unless `skipBadCases`, and refuses a mapping whose organs differ from what the federation lists for `node`.
    public init(federation: FederationFile, node: String, dataset: String, mapping: LabelMapping,
                skipBadCases: Bool, stateDirectory: String? = nil, log: @escaping @Sendable (String) -> Void) throws {
        guard let entry = federation.node(node) else {
            throw FederationError.unknownNode(id: node, federation: federation.name)
        }
        guard federation.organNames == Organ.allCases.sorted().map(\.description) else {
            throw FederationError.labelSet(found: federation.organNames, expected: Organ.allCases.sorted().map(\.description))
        }
        let mapped = mapping.annotatedOrgans.map(\.description).sorted()
        guard mapped == entry.organs.sorted() else {
            throw FederationError.labelsMismatch(node: node, mapping: mapped, federation: entry.organs.sorted())
        }
        let t = federation.training
        for (field, values, count) in [("training.spacing", t.spacing.count, 3), ("training.window", t.window.count, 2),
                                       ("training.patch", t.patch.count, 3)] where values != count {
            throw FederationError.fieldCount(field: field, expected: count, found: values)
        }
        let pre = Preprocessing(spacing: SIMD3(t.spacing[0], t.spacing[1], t.spacing[2]),
                                window: HUWindow(lower: Float(t.window[0]), upper: Float(t.window[1])))
        let recipe = try TrainingRecipe(federation: federation)
        // The optimiser state is read before the (slow) data set, so a bad file is reported at once.
        optimiser = try OptimiserMemory(directory: stateDirectory, federation: federation.name, node: node)
        let ds = try Dataset.open(URL(fileURLWithPath: dataset))
        // Two cases in flight at most (each holds its full-resolution volumes until preprocessed);
        // the originals are not kept: a node needs only the preprocessed volumes.
        let loaded = try TrainingSet.load(ds, mapping: mapping, preprocessing: pre, skipBadCases: skipBadCases,
                                          keepOriginals: false, workers: 2)
        for p in loaded.skipped { log("skipping bad case: \(p)") }
        var h: UInt64 = t.seed
        for b in node.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        // With model selection, held-out cases leave the training set here, before anything trains on them.
        let (trainingSet, heldOut) = try HeldOutValidation.split(loaded, count: federation.modelSelection?.heldOutCases ?? 0, seed: h)
        let set = trainingSet
        validation = heldOut.isEmpty ? nil : HeldOutValidation(items: heldOut, organs: mapping.annotatedOrgans.sorted(), roi: t.patch)
        var training = SiteTraining(set: set, organs: mapping.annotatedOrgans.sorted(), patch: t.patch, patchesPerVolume: t.patchesPerVolume,
                                    recipe: recipe, seed: h)
        do { training.privacy = try federation.privacySettings() } catch {
            throw FederationError.invalidField(field: "privacy", value: "\(error)", expected: "a privacy section the federation validator accepts")
        }
        if training.privacy != nil, federation.network.norm == "batch" {
            throw FederationError.invalidField(field: "network.norm", value: federation.network.norm, expected: "instance (differential privacy needs instance normalisation)")
        }
        self.training = training
        self.log = log
        log("loaded \(set.items.count) training case(s) from \(dataset), organs \(training.organs.map(\.description).joined(separator: ", "))"
            + (heldOut.isEmpty ? "" : "; \(heldOut.count) held out for model selection: \(heldOut.map(\.id).joined(separator: ", "))"))
    }

    /// Trains `model` in place from itself as the teacher, as the round after `round - 1` completed rounds.
    public func train(model: inout FederatedModel, epochs: Int, round: Int) throws -> Int {
        try train(model: &model, global: model, epochs: epochs, round: round, completedRounds: max(0, round - 1))
    }

    /// Trains `model` in place (teacher: `global`); returns the number of training volumes (the node's weight),
    /// or 1 under differential privacy.
    public func train(model: inout FederatedModel, global: FederatedModel, epochs: Int, round: Int, completedRounds: Int) throws -> Int {
        var state = optimiser.current
        let t0 = Date()
        training.train(model: &model, epochs: epochs, round: round, completedRounds: completedRounds, teacher: global,
                       optimiser: &state) { s in
            log(String(format: "round %d epoch %d/%d mean loss %.4f lr %.3g gradient norm mean %.3g max %.3g",
                       round, s.epoch + 1, epochs, s.meanLoss, s.learningRate, s.meanGradientNorm, s.maxGradientNorm)
                + TimeLeft.text(elapsed: Date().timeIntervalSince(t0), done: s.epoch + 1, total: epochs, of: "this round's training"))
        }
        try optimiser.replace(with: state)
        // Under differential privacy the weight is the constant 1: a count would reveal (and depend on) patients.
        return training.privacy == nil ? training.set.items.count : 1
    }

    /// Dice of the received global `model` on the held-out cases (nil without model selection).
    public func heldOutScores(model: FederatedModel) throws -> HeldOutScores? {
        try validation?.scores(model: model)
    }
}

/// A node's ``OptimiserState`` across rounds, in memory and (with a state folder) on disk.
final class OptimiserMemory: @unchecked Sendable {  // `lock` guards `state`.
    private let lock = NSLock()
    private var state: OptimiserState
    let path: String?
    let federation: String, node: String

    /// Reads DIR/optimiser-state.safetensors when present (a bad file is an error naming it); empty otherwise.
    init(directory: String?, federation: String, node: String) throws {
        self.federation = federation
        self.node = node
        path = directory.map { URL(fileURLWithPath: $0).appendingPathComponent(OptimiserState.fileName).path }
        if let path, FileManager.default.fileExists(atPath: path) {
            state = try OptimiserState.load(path: path, federation: federation, node: node)
        } else {
            state = OptimiserState()
        }
    }

    var current: OptimiserState { lock.withLock { state } }

    /// Keeps `new`, writing it first when backed by a file (a failed write keeps the old state).
    func replace(with new: OptimiserState) throws {
        if let path {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try new.save(path: path, federation: federation, node: node)
        }
        lock.withLock { state = new }
    }
}
