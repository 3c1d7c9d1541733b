import Foundation
import Imaging
import NN
import Tensor

/// A node's local training on its own data set: the `TrainingSet` is loaded and preprocessed once, then each
/// round trains the global model for the federation's local epochs (``SiteTraining``).
public struct SiteTrainer: LocalTrainer {
    /// The training loop over the loaded set.
    public let training: SiteTraining
    let log: @Sendable (String) -> Void

    /// Loads `dataset` with `mapping` and the federation's preprocessing; refuses a data set with bad cases
    /// unless `skipBadCases`, and refuses a mapping whose organs differ from what the federation lists for `node`.
    public init(federation: FederationFile, node: String, dataset: String, mapping: LabelMapping,
                skipBadCases: Bool, log: @escaping @Sendable (String) -> Void) throws {
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
        let ds = try Dataset.open(URL(fileURLWithPath: dataset))
        // Two cases in flight at most (each holds its full-resolution volumes until preprocessed);
        // the originals are not kept: a node needs only the preprocessed volumes.
        let set = try TrainingSet.load(ds, mapping: mapping, preprocessing: pre, skipBadCases: skipBadCases,
                                       keepOriginals: false, workers: 2)
        for p in set.skipped { log("skipping bad case: \(p)") }
        var h: UInt64 = t.seed
        for b in node.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        training = SiteTraining(set: set, organs: mapping.annotatedOrgans.sorted(), patch: t.patch, patchesPerVolume: t.patchesPerVolume,
                                learningRate: Float(t.learningRate), seed: h)
        self.log = log
        log("loaded \(set.items.count) training case(s) from \(dataset), organs \(training.organs.map(\.description))")
    }

    /// Trains `model` in place; returns the number of training volumes (the node's weight).
    public func train(model: inout FederatedModel, epochs: Int, round: Int) throws -> Int {
        training.train(model: &model, epochs: epochs, round: round) { e, mean in
            log(String(format: "round %d epoch %d/%d mean loss %.4f", round, e + 1, epochs, mean))
        }
        return training.set.items.count
    }
}
