import Foundation
import Tensor

/// A site's training volumes, validated, mapped to federation labels and preprocessed once, from
/// which each epoch draws its random patches. What `segviz train` and a federation node train on.
public struct TrainingSet: Sendable {
    /// One preprocessed case.
    public struct Item: Sendable {
        /// Case identifier.
        public var id: String
        /// Windowed image on the network grid (RAS, target spacing, foreground-cropped).
        public var image: Volume
        /// Federation labels on the same grid.
        public var label: Volume
    }

    /// The preprocessed cases.
    public var items: [Item]
    /// Cases left out because of problems (only when skipping was asked for).
    public var skipped: [CaseProblem]
    /// The label mapping used.
    public var mapping: LabelMapping
    /// The preprocessing applied.
    public var preprocessing: Preprocessing
    /// The raw labelled volumes (federation labels on the original grids), for the atlas baseline.
    public var originals: [LabelledVolume]

    /// Loads every training case of `dataset`. With problems and `skipBadCases == false` it throws
    /// ``DatasetRefused`` listing them all; with `skipBadCases` the bad cases are left out and listed
    /// in ``skipped``.
    public static func load(_ dataset: Dataset, mapping: LabelMapping, preprocessing: Preprocessing,
                            skipBadCases: Bool = false) throws -> TrainingSet {
        var loaded = [LabelledVolume](), problems = [CaseProblem]()
        for c in dataset.training {
            do { loaded.append(try dataset.load(c, mapping: mapping)) } catch { problems.append(error) }
        }
        if !problems.isEmpty && !skipBadCases { throw DatasetRefused(problems: problems) }
        guard !loaded.isEmpty else { throw DatasetError.empty(folder: dataset.root.path) }
        let items = loaded.map { lv -> Item in
            let (img, lab) = preprocessing.pair(image: lv.image, label: lv.label)
            return Item(id: lv.source.id, image: img, label: lab)
        }
        return TrainingSet(items: items, skipped: problems, mapping: mapping, preprocessing: preprocessing, originals: loaded)
    }

    /// The batches of one epoch: one batch of `patchesPerVolume` patches per volume, volumes in a
    /// shuffled order; everything is determined by `seed` and `epoch`.
    public func epoch(_ epoch: Int, sampler: PatchSampler, patchesPerVolume: Int, seed: UInt64) -> [(id: String, input: Tensor, labels: Tensor)] {
        var rng = SeededRandom(seed: seed, stream: UInt64(epoch))
        var order = Array(items.indices)
        order.shuffle(using: &rng)
        return order.map { n in
            let patches = sampler.sample(image: items[n].image, label: items[n].label, count: patchesPerVolume, using: &rng)
            return (items[n].id, stack(patches.map(\.image)), stack(patches.map(\.label)))
        }
    }
}

/// Concatenates `[1, C, D, H, W]` tensors of one shape into `[B, C, D, H, W]`.
public func stack(_ tensors: [Tensor]) -> Tensor {
    precondition(!tensors.isEmpty, "stack: no tensors")
    let shape = tensors[0].shape
    precondition(tensors.allSatisfy { $0.shape == shape } && shape[0] == 1, "stack: tensors must share a [1, ...] shape")
    return Tensor(shape: [tensors.count] + shape.dropFirst(), scalars: tensors.flatMap(\.scalars))
}
