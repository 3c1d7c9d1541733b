import Federation
import Foundation
import Imaging
import NN
import Tensor

/// The experiment's own training loops: the centralised baseline (several sites' data pooled) and the heads
/// setups' per-site step (Federation's ``SiteTraining``). Federated setups of the global model train with
/// ``SiteTraining`` and their recipe directly (``FederatedRounds``), as a node does.
///
/// Patches come from `TrainingSet.epoch` with each site's own sampling seed and `round * 10_000 + epoch` as the
/// stream, so two setups that train the same site in the same round see exactly the same patches (what makes
/// the secure and the plain runs comparable). Adam starts afresh every round, as at a federation node.
struct RoundTraining {
    let patch: [Int]
    let patchesPerVolume: Int
    let learningRate: Float
    let classes: Int

    init(_ config: ExperimentConfig) {
        patch = config.training.patch
        patchesPerVolume = config.training.patchesPerVolume
        learningRate = Float(config.training.learningRate)
        classes = Organ.classCount
    }

    /// Trains the multi-class network of `model` (strategy `single`) on `sites` pooled (the centralised baseline)
    /// for `epochs` with each site's marginal loss. Returns the mean loss of the last epoch.
    @discardableResult
    func trainSingle(model: inout FederatedModel, sites: [SiteData], epochs: Int, round: Int) -> Float {
        let net = model.network()
        let adam = Adam(net.parameters, learningRate: learningRate)
        let losses = sites.map { DiceCELoss.marginal(classes: classes, annotated: [$0.organ.rawValue]) }
        var last: Float = 0
        for e in 0..<epochs {
            var batches = batchList(sites: sites, round: round, epoch: e)
            if sites.count > 1 {  // pooled: interleave the sites' volumes
                var rng = Imaging.SeededRandom(seed: sites.reduce(0) { $0 ^ $1.samplingSeed }, stream: UInt64(round * 10_000 + e))
                batches.shuffle(using: &rng)
            }
            var total: Float = 0
            for (site, input, labels) in batches {
                total += net.trainStep(input: input, labels: labels, loss: losses[site], optimizer: adam)
            }
            last = total / Float(max(batches.count, 1))
        }
        model.absorb(net)
        return last
    }

    /// Trains the core plus `site`'s organ head of `model` (strategy `heads`): binary organ-vs-rest Dice-CE, with
    /// Federation's site training (what a node runs). Returns the mean loss of the last epoch.
    @discardableResult
    func trainHead(model: inout FederatedModel, site: SiteData, epochs: Int, round: Int) -> Float {
        precondition(model.strategy == .heads, "trainHead: a heads model")
        return SiteTraining(set: site.set, organs: [site.organ], patch: patch, patchesPerVolume: patchesPerVolume,
                            recipe: .plain(learningRate: learningRate, rounds: 1), seed: site.samplingSeed)
            .train(model: &model, epochs: epochs, round: round)
    }

    private func batchList(sites: [SiteData], round: Int, epoch: Int) -> [(Int, Tensor, Tensor)] {
        // The patch is the tensor's (D, H, W) = the RAS grid's (i, j, k), as MONAI.
        let sampler = PatchSampler(size: patch)
        return sites.enumerated().flatMap { n, s in
            s.set.epoch(round * 10_000 + epoch, sampler: sampler, patchesPerVolume: patchesPerVolume, seed: s.samplingSeed)
                .map { (n, $0.input, $0.labels) }
        }
    }
}
