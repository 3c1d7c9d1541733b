import Foundation
import Imaging
import NN
import Tensor

/// A node's local training on its own data set: the `TrainingSet` is loaded and preprocessed once, then each
/// round trains the global model for the federation's local epochs.
///
/// - `single`: the multi-class network with the marginal Dice-CE loss (organs the site does not annotate are
///   merged into background), as in Shi et al. 2021 / ConDistFL.
/// - `heads`: for each organ the site annotates, the core plus that organ's binary head (organ vs rest).
public final class SiteTrainer: LocalTrainer, @unchecked Sendable {
    let set: TrainingSet
    let organs: [Organ]
    let patch: [Int]
    let patchesPerVolume: Int
    let learningRate: Float
    let seed: UInt64
    let log: @Sendable (String) -> Void

    /// Loads `dataset` with `mapping` and the federation's preprocessing; refuses a data set with bad cases
    /// unless `skipBadCases`, and refuses a mapping whose organs differ from what the federation lists for `node`.
    public init(federation: FederationFile, node: String, dataset: String, mapping: LabelMapping,
                skipBadCases: Bool, log: @escaping @Sendable (String) -> Void) throws {
        guard let entry = federation.node(node) else {
            throw FederationError.invalidArgument(name: "--id", problem: "'\(node)' is not in the federation file")
        }
        guard federation.organNames == Organ.allCases.sorted().map(\.description) else {
            throw FederationError.invalidArgument(name: "labels", problem:
                "the federation's label set \(federation.organNames) must be \(Organ.allCases.sorted().map(\.description)) (labels 1, 2, ...)")
        }
        let mapped = mapping.annotatedOrgans.map(\.description).sorted()
        guard mapped == entry.organs.sorted() else {
            throw FederationError.invalidArgument(name: "--labels", problem:
                "annotates \(mapped) but the federation file lists \(entry.organs.sorted()) for '\(node)'")
        }
        let t = federation.training
        guard t.spacing.count == 3, t.window.count == 2 else {
            throw FederationError.invalidArgument(name: "training", problem: "spacing needs 3 values and window 2")
        }
        let pre = Preprocessing(spacing: SIMD3(t.spacing[0], t.spacing[1], t.spacing[2]),
                                window: HUWindow(lower: Float(t.window[0]), upper: Float(t.window[1])))
        let ds = try Dataset.open(URL(fileURLWithPath: dataset))
        // Two cases in flight at most (each holds its full-resolution volumes until preprocessed);
        // the originals are not kept: a node needs only the preprocessed volumes.
        set = try TrainingSet.load(ds, mapping: mapping, preprocessing: pre, skipBadCases: skipBadCases,
                                   keepOriginals: false, workers: 2)
        for p in set.skipped { log("skipping bad case: \(p)") }
        organs = mapping.annotatedOrgans.sorted()
        patch = t.patch
        patchesPerVolume = t.patchesPerVolume
        learningRate = Float(t.learningRate)
        var h: UInt64 = t.seed
        for b in node.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        seed = h
        self.log = log
        log("loaded \(set.items.count) training case(s) from \(dataset), organs \(organs.map(\.description))")
    }

    /// Trains `model` in place; returns the number of training volumes (the node's weight).
    public func train(model: FederatedModel, epochs: Int, round: Int) throws -> Int {
        // --patch is D,H,W (tensor order); the sampler counts along (i, j, k) = (W, H, D).
        let sampler = PatchSampler(size: [patch[2], patch[1], patch[0]])
        switch model.strategy {
        case .single:
            let net = model.network()
            let loss = DiceCELoss.marginal(classes: model.organs.count + 1, annotated: organs.map(\.rawValue))
            run(net: net, loss: loss, sampler: sampler, epochs: epochs, round: round, relabel: nil)
            model.absorb(net)
        case .heads:
            for organ in organs {
                let net = model.network(organ: organ.description)
                run(net: net, loss: DiceCELoss(), sampler: sampler, epochs: epochs, round: round,
                    relabel: Float(organ.rawValue))
                model.absorb(net, organ: organ.description)
            }
        }
        return set.items.count
    }

    private func run(net: UNet, loss: DiceCELoss, sampler: PatchSampler, epochs: Int, round: Int, relabel: Float?) {
        let adam = Adam(net.parameters, learningRate: learningRate)
        for e in 0..<epochs {
            var total: Float = 0, count = 0
            set.forEachBatch(round * 10_000 + e, sampler: sampler, patchesPerVolume: patchesPerVolume, seed: seed) { b in
                count += 1
                var labels = b.labels
                if let target = relabel {
                    labels = Tensor(shape: labels.shape, scalars: labels.scalars.map { $0 == target ? 1 : 0 })
                }
                total += net.trainStep(input: b.input, labels: labels, loss: loss, optimizer: adam)
            }
            log(String(format: "round %d epoch %d/%d mean loss %.4f", round, e + 1, epochs, total / Float(max(count, 1))))
        }
    }
}
