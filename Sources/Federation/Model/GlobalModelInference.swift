import Foundation
import Imaging
import NN
import Tensor

/// Whole-volume segmentation with a global model, for either strategy, in federation label numbers
/// (0 background, 1 liver, 2 spleen), on the input's own grid (same dims and affine).
///
/// By default each organ's label map is reduced to its largest 26-connected component, as MONAI's
/// `KeepLargestConnectedComponent(applied_labels, independent=True, connectivity=3)` in a post-processing chain: a
/// liver or spleen is one organ, and far-away false-positive islands are what drive HD95 up. `segviz infer`,
/// `segviz evaluate`, the aggregator's evaluation and the experiment all use this default; `keepLargestComponent:
/// false` (`--no-keep-largest`) gives the raw argmax.
///
/// Windows overlap by half (``defaultOverlap``, nnU-Net's half-window step; MONAI's `sliding_window_inference`
/// defaults to 0.25): every voxel is then seen by several Gaussian-weighted windows.
public struct GlobalModelInference: Sendable {
    /// The sliding-window overlap of every global-model inference unless told otherwise: 0.5. On the demo's
    /// phantom sites (never the external set) it raised the mean Dice by 0.01-0.03 over 0.25, for about three times
    /// the windows.
    public static let defaultOverlap = 0.5

    let model: FederatedModel
    let segmenter: Segmenter
    /// Whether each organ keeps only its largest connected component (default true).
    public var keepLargestComponent: Bool

    /// Prepares inference; `spacing` (mm) and `window` (HU) must be the ones the model was trained with.
    public init(model: FederatedModel, spacing: [Double], window: [Double], roi: [Int], overlap: Double = GlobalModelInference.defaultOverlap,
                keepLargestComponent: Bool = true) throws {
        for (field, values, count) in [("spacing", spacing.count, 3), ("window", window.count, 2), ("roi", roi.count, 3)]
            where values != count {
            throw FederationError.fieldCount(field: field, expected: count, found: values)
        }
        self.init(model: model, preprocessing: Preprocessing(spacing: SIMD3(spacing[0], spacing[1], spacing[2]),
                                                             window: HUWindow(lower: Float(window[0]), upper: Float(window[1]))),
                  roi: roi, overlap: overlap, keepLargestComponent: keepLargestComponent)
    }

    /// Prepares inference with `preprocessing` (the one the model was trained with) and a sliding window of `roi`.
    public init(model: FederatedModel, preprocessing: Preprocessing, roi: [Int], overlap: Double = GlobalModelInference.defaultOverlap,
                keepLargestComponent: Bool = true) {
        self.model = model
        self.keepLargestComponent = keepLargestComponent
        segmenter = Segmenter(preprocessing: preprocessing, window: SlidingWindow(roi: roi, overlap: overlap))
    }

    /// Prepares inference from a verified artifact (its manifest gives spacing and window).
    public init(verified: VerifiedModel, roi: [Int], overlap: Double = GlobalModelInference.defaultOverlap, keepLargestComponent: Bool = true) throws {
        func numbers(_ key: String, count: Int) throws(FederationError) -> [Double] {
            guard let t = verified.manifest[key], let a = try? JSONSerialization.jsonObject(with: Data(t.utf8)) as? [Double],
                  a.count == count else {
                throw .manifestKey(path: verified.path, key: key, expected: "a list of \(count) numbers")
            }
            return a
        }
        try self.init(model: try verified.model(), spacing: try numbers("spacing", count: 3), window: try numbers("window", count: 2),
                      roi: roi, overlap: overlap, keepLargestComponent: keepLargestComponent)
    }

    /// Label map of `image`.
    public func segment(_ image: Volume) throws -> Volume {
        let labels: Volume
        switch model.strategy {
        case .single:
            let net = model.network()
            labels = try net.withFrozenWeights { try segmenter.segment(image, predictor: { net.predict($0) }) }
        case .heads:
            labels = try mostConfidentHead(image, heads: model.organs.enumerated().map { ($1, Float($0 + 1)) })
        }
        return postprocessed(labels, values: model.labelValues)
    }

    /// Federation labels of `image` for `organs` only: for `single` the argmax with the other organs' probability
    /// counted as background; for `heads` the most confident of those organs' heads above 0.5.
    public func segment(_ image: Volume, organs: [Organ]) throws -> Volume {
        let labels: Volume
        switch model.strategy {
        case .single:
            let net = model.network()
            labels = try net.withFrozenWeights { try segmenter.segment(image, predictor: { net.predict($0) }, organs: Set(organs)) }
        case .heads:
            labels = try mostConfidentHead(image, heads: organs.sorted().map { ($0.description, Float($0.rawValue)) })
        }
        return postprocessed(labels, values: organs.map(\.rawValue))
    }

    /// `labels` with the post-processing this inference was made with, applied to the label `values`.
    func postprocessed(_ labels: Volume, values: [Int]) -> Volume {
        keepLargestComponent ? labels.keepingLargestComponent(of: values.sorted()) : labels
    }

    /// Per voxel: the label of the head whose organ probability is highest, if above 0.5; else 0.
    private func mostConfidentHead(_ image: Volume, heads: [(organ: String, label: Float)]) throws -> Volume {
        var best = Volume(grid: image.grid, repeating: 0.5)
        var labels = Volume(grid: image.grid, repeating: 0)
        for head in heads {
            let net = model.network(organ: head.organ)
            let p = try net.withFrozenWeights { try segmenter.probabilities(image, predictor: { net.predict($0) })[1] }
            for n in p.voxels.indices where p.voxels[n] > best.voxels[n] {
                best.voxels[n] = p.voxels[n]
                labels.voxels[n] = head.label
            }
        }
        return labels
    }

    /// Mean Dice per organ over the labelled cases of `dataset` (federation numbering via `mapping`), scoring only
    /// organs that `mapping` annotates.
    public func meanDice(dataset: Dataset, mapping: LabelMapping) throws -> [String: Double] {
        var sums: [String: Double] = [:]
        var n = 0
        for c in dataset.training {
            let lv = try dataset.load(c, mapping: mapping)
            let pred = try segment(lv.image)
            for organ in mapping.annotatedOrgans where model.organs.contains(organ.description) {
                sums[organ.description, default: 0] += Metrics.dice(pred, lv.label, label: organ.rawValue)
            }
            n += 1
        }
        return sums.mapValues { $0 / Double(max(n, 1)) }
    }
}

extension FederatedModel {
    /// The label values of the model's organs in its label maps: the federation numbering (1 liver, 2 spleen) for
    /// `single`, whose classes are every organ; 1, 2, ... in the model's organ order for `heads`.
    var labelValues: [Int] {
        switch strategy {
        case .single: return organs.compactMap { Organ(name: $0)?.rawValue }
        case .heads: return Array(1...max(organs.count, 1))
        }
    }
}
