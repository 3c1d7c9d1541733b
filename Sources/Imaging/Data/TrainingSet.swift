import Foundation
import Synchronization
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
        /// The patient (``Case/patient``); nil: the case is its own patient.
        public var patient: String? = nil
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
    /// in ``skipped``. `workers` cases are read and preprocessed at once (each holds its full-resolution
    /// volumes only until they are preprocessed); without `keepOriginals` ``originals`` stays empty,
    /// so only the preprocessed volumes remain in memory. `progress(done, total)` follows the loading.
    public static func load(_ dataset: Dataset, mapping: LabelMapping, preprocessing: Preprocessing,
                            skipBadCases: Bool = false, keepOriginals: Bool = true, workers: Int = 1,
                            progress: @Sendable (Int, Int) -> Void = { _, _ in }) throws -> TrainingSet {
        let cases = dataset.training
        var results = [Result<(Item, LabelledVolume?), CaseProblem>?](repeating: nil, count: cases.count)
        let done = Mutex(0)
        results.withUnsafeMutableBufferPointer { out in
            let box = UncheckedBox(out)
            let next = Mutex(0)
            DispatchQueue.concurrentPerform(iterations: max(1, min(workers, cases.count))) { _ in
                while true {
                    let i = next.withLock { n -> Int in defer { n += 1 }; return n }
                    if i >= cases.count { break }
                    do throws(CaseProblem) {
                        let lv = try dataset.load(cases[i], mapping: mapping)
                        let (img, lab) = preprocessing.pair(image: lv.image, label: lv.label)
                        box.value[i] = .success((Item(id: lv.source.id, image: img, label: lab, patient: cases[i].patient),
                                                  keepOriginals ? lv : nil))
                    } catch { box.value[i] = .failure(error) }
                    progress(done.withLock { n -> Int in n += 1; return n }, cases.count)
                }
            }
        }
        var items = [Item](), originals = [LabelledVolume](), problems = [CaseProblem]()
        for r in results {
            switch r! {
            case .success(let (item, original)):
                items.append(item)
                if let original { originals.append(original) }
            case .failure(let p): problems.append(p)
            }
        }
        if !problems.isEmpty && !skipBadCases { throw DatasetRefused(problems: problems) }
        guard !items.isEmpty else { throw DatasetError.empty(folder: dataset.root.path) }
        return TrainingSet(items: items, skipped: problems, mapping: mapping, preprocessing: preprocessing, originals: originals)
    }

    /// The batches of one epoch: one batch of `patchesPerVolume` patches per volume, volumes in a
    /// shuffled order; everything is determined by `seed` and `epoch`.
    public func epoch(_ epoch: Int, sampler: PatchSampler, patchesPerVolume: Int, seed: UInt64) -> [(id: String, input: Tensor, labels: Tensor)] {
        var all = [(id: String, input: Tensor, labels: Tensor)]()
        forEachBatch(epoch, sampler: sampler, patchesPerVolume: patchesPerVolume, seed: seed) { all.append($0) }
        return all
    }

    /// The batches of ``epoch(_:sampler:patchesPerVolume:seed:)``, in the same order, made one at a
    /// time just before `body` gets them (only one batch of patches is in memory at once).
    public func forEachBatch(_ epoch: Int, sampler: PatchSampler, patchesPerVolume: Int, seed: UInt64,
                             _ body: ((id: String, input: Tensor, labels: Tensor)) throws -> Void) rethrows {
        var rng = SeededRandom(seed: seed, stream: UInt64(epoch))
        var order = Array(items.indices)
        order.shuffle(using: &rng)
        for n in order {
            let patches = sampler.sample(image: items[n].image, label: items[n].label, count: patchesPerVolume, using: &rng)
            try body((items[n].id, stack(patches.map(\.image)), stack(patches.map(\.label))))
        }
    }
}

extension TrainingSet {
    /// `patchesPerVolume` patches of item `index`, drawn with `rng` (DP-SGD gathers a sampled patient's cases).
    public func patches(of index: Int, sampler: PatchSampler, count: Int, using rng: inout SeededRandom) -> (input: Tensor, labels: Tensor) {
        let p = sampler.sample(image: items[index].image, label: items[index].label, count: count, using: &rng)
        return (stack(p.map(\.image)), stack(p.map(\.label)))
    }
}

/// Concatenates `[1, C, D, H, W]` tensors of one shape into `[B, C, D, H, W]`.
public func stack(_ tensors: [Tensor]) -> Tensor {
    precondition(!tensors.isEmpty, "stack: no tensors")
    let shape = tensors[0].shape
    precondition(tensors.allSatisfy { $0.shape == shape } && shape[0] == 1, "stack: tensors must share a [1, ...] shape")
    return Tensor(shape: [tensors.count] + shape.dropFirst(), scalars: tensors.flatMap(\.scalars))
}
