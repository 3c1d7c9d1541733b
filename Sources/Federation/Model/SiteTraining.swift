import Imaging
import NN
import Tensor

/// Local training of a federated model on one site's training set, for either strategy: the epoch loop that a
/// federation node (``SiteTrainer``) and the in-process experiment both run.
///
/// - `single`: the multi-class network with the marginal Dice-CE loss (organs the site does not annotate are
///   merged into background), as in Shi et al. 2021 / ConDistFL.
/// - `heads`: for each organ the site annotates, the core plus that organ's binary head (organ vs rest).
///
/// Patches come from `TrainingSet.epoch` with the site's sampling `seed` and `round * 10_000 + epoch` as the
/// stream; Adam starts afresh every round.
public struct SiteTraining: Sendable {
    /// The site's preprocessed cases.
    public let set: TrainingSet
    /// The organs the site annotates.
    public let organs: [Organ]
    /// Patch size D,H,W (tensor order).
    public let patch: [Int]
    /// Patches drawn per volume and epoch.
    public let patchesPerVolume: Int
    /// Adam's learning rate.
    public let learningRate: Float
    /// Seed of the site's patch sampling.
    public let seed: UInt64

    /// Training of `set` (annotating `organs`) with the given budget.
    public init(set: TrainingSet, organs: [Organ], patch: [Int], patchesPerVolume: Int, learningRate: Float, seed: UInt64) {
        precondition(patch.count == 3, "SiteTraining: patch needs D,H,W")
        self.set = set
        self.organs = organs.sorted()
        self.patch = patch
        self.patchesPerVolume = patchesPerVolume
        self.learningRate = learningRate
        self.seed = seed
    }

    /// Trains `model` in place for `epochs` of round `round`; `epochDone(epoch, meanLoss)` follows each epoch of
    /// each trained network. Returns the mean loss of the last epoch.
    @discardableResult
    public func train(model: FederatedModel, epochs: Int, round: Int, epochDone: (Int, Float) -> Void = { _, _ in }) -> Float {
        // The patch is the tensor's (D, H, W) = the RAS grid's (i, j, k), as MONAI.
        let sampler = PatchSampler(size: patch, augmentation: .standard)
        var last: Float = 0
        switch model.strategy {
        case .single:
            let net = model.network()
            let loss = DiceCELoss.marginal(classes: model.organs.count + 1, annotated: organs.map(\.rawValue))
            last = run(net: net, loss: loss, sampler: sampler, epochs: epochs, round: round, relabel: nil, epochDone: epochDone)
            model.absorb(net)
        case .heads:
            for organ in organs {
                let net = model.network(organ: organ.description)
                last = run(net: net, loss: DiceCELoss(), sampler: sampler, epochs: epochs, round: round,
                           relabel: Float(organ.rawValue), epochDone: epochDone)
                model.absorb(net, organ: organ.description)
            }
        }
        return last
    }

    private func run(net: UNet, loss: DiceCELoss, sampler: PatchSampler, epochs: Int, round: Int, relabel: Float?,
                     epochDone: (Int, Float) -> Void) -> Float {
        let adam = Adam(net.parameters, learningRate: learningRate)
        var mean: Float = 0
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
            mean = total / Float(max(count, 1))
            epochDone(e, mean)
        }
        return mean
    }
}
