import Federation
import Foundation
import Imaging
import NN
import Tensor

/// One round of local training for any setup, on one site or on several sites' data pooled.
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

    /// Trains the multi-class network of `model` (strategy `single`) on `sites` for `epochs` with each site's
    /// marginal loss. With a `teacher`, labels of organs a site does not annotate come from the teacher's
    /// prediction wherever the site says background (hard distillation), and the loss is the full Dice-CE.
    /// Returns the mean loss of the last epoch.
    @discardableResult
    func trainSingle(model: FederatedModel, sites: [SiteData], epochs: Int, round: Int, teacher: UNet?) -> Float {
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
                if let teacher {
                    let y = distilled(labels: labels, teacher: teacher.predictLabels(input), annotated: sites[site].organ)
                    total += net.trainStep(input: input, labels: y, loss: DiceCELoss(), optimizer: adam)
                } else {
                    total += net.trainStep(input: input, labels: labels, loss: losses[site], optimizer: adam)
                }
            }
            last = total / Float(max(batches.count, 1))
        }
        model.absorb(net)
        return last
    }

    /// Trains the core plus `site`'s organ head of `model` (strategy `heads`): binary organ-vs-rest Dice-CE, with
    /// Federation's site training (what a node runs). Returns the mean loss of the last epoch.
    @discardableResult
    func trainHead(model: FederatedModel, site: SiteData, epochs: Int, round: Int) -> Float {
        precondition(model.strategy == .heads, "trainHead: a heads model")
        return SiteTraining(set: site.set, organs: [site.organ], patch: patch, patchesPerVolume: patchesPerVolume,
                            learningRate: learningRate, seed: site.samplingSeed).train(model: model, epochs: epochs, round: round)
    }

    private func batchList(sites: [SiteData], round: Int, epoch: Int) -> [(Int, Tensor, Tensor)] {
        // The patch is the tensor's (D, H, W) = the RAS grid's (i, j, k), as MONAI.
        let sampler = PatchSampler(size: patch)
        return sites.enumerated().flatMap { n, s in
            s.set.epoch(round * 10_000 + epoch, sampler: sampler, patchesPerVolume: patchesPerVolume, seed: s.samplingSeed)
                .map { (n, $0.input, $0.labels) }
        }
    }

    /// The site's labels with the teacher's unannotated organs filled in where the site says background.
    func distilled(labels: Tensor, teacher: Tensor, annotated: Organ) -> Tensor {
        let keep = Float(annotated.rawValue)
        var y = labels.scalars
        let t = teacher.scalars
        for n in y.indices where y[n] == 0 && t[n] != 0 && t[n] != keep { y[n] = t[n] }
        return Tensor(shape: labels.shape, scalars: y)
    }
}
