import Tensor
import Foundation

/// Whole-volume segmentation with any network: the image is brought to the network's grid
/// (RAS, target spacing, HU window), inferred with a ``SlidingWindow``, turned into class
/// probabilities (softmax), resampled back onto the input's own grid (trilinear) and reduced to
/// labels (argmax), so the result has the input's exact dims and affine.
public struct Segmenter: Sendable {
    /// Orientation, spacing and window of the network's input.
    public var preprocessing: Preprocessing
    /// Window, overlap and batching.
    public var window: SlidingWindow

    /// A segmenter; cropping is never applied at inference.
    public init(preprocessing: Preprocessing = Preprocessing(), window: SlidingWindow = SlidingWindow()) {
        self.preprocessing = preprocessing
        self.preprocessing.cropForeground = false
        self.window = window
    }

    /// Class probabilities on the input's grid, one volume per class.
    public func probabilities(_ image: Volume, predictor: SlidingWindow.Predictor) throws -> [Volume] {
        let ras = image.reoriented(to: "RAS")
        let net = preprocessing.image(image)
        let logits = try window(net.tensor, predictor: predictor)
        let k = logits.shape[1], n = net.grid.count
        let probs = channelSoftmax(logits)
        return (0..<k).map { c in
            var v = Volume(grid: net.grid, tensorOrder: probs[(c * n)..<((c + 1) * n)])
                .resampled(to: ras.grid, interpolation: .linear)
                .reoriented(to: image.orientation)
            v.grid.affine = image.affine  // the exact inverse of the reorientation; drop rounding
            return v
        }
    }

    /// Labels 0 ..< K (argmax of the probabilities) on the input's grid.
    public func segment(_ image: Volume, predictor: SlidingWindow.Predictor) throws -> Volume {
        argmax(try probabilities(image, predictor: predictor))
    }

    /// Federation labels on the input's grid from a 3-class network, counting the probability of
    /// organs outside `organs` as background (a site's model is only trained for its own organs).
    public func segment(_ image: Volume, predictor: SlidingWindow.Predictor, organs: Set<Organ>) throws -> Volume {
        var p = try probabilities(image, predictor: predictor)
        precondition(p.count == Organ.classCount, "Segmenter: expected \(Organ.classCount) classes, got \(p.count)")
        for organ in Organ.allCases where !organs.contains(organ) {
            for n in p[0].voxels.indices { p[0].voxels[n] += p[organ.rawValue].voxels[n]; p[organ.rawValue].voxels[n] = 0 }
        }
        return argmax(p)
    }
}

/// Per-voxel softmax over the channels of `[1, K, D, H, W]` logits, flattened channel-major (K x D·H·W).
public func channelSoftmax(_ logits: Tensor) -> [Float] {
    var p = logits.scalars
    let k = logits.shape[1], n = p.count / max(k, 1)
    for v in 0..<n {
        var top = -Float.infinity
        for c in 0..<k { top = max(top, p[c * n + v]) }
        var sum: Float = 0
        for c in 0..<k { let e = exp(p[c * n + v] - top); p[c * n + v] = e; sum += e }
        for c in 0..<k { p[c * n + v] /= sum }
    }
    return p
}

/// The index of the largest value per voxel across `volumes` (all on one grid).
public func argmax(_ volumes: [Volume]) -> Volume {
    precondition(!volumes.isEmpty, "argmax: no volumes")
    var out = Volume(grid: volumes[0].grid, repeating: 0)
    var best = volumes[0].voxels
    for (c, v) in volumes.enumerated().dropFirst() {
        precondition(v.dims == out.dims, "argmax: volumes differ in dims")
        for n in best.indices where v.voxels[n] > best[n] { best[n] = v.voxels[n]; out.voxels[n] = Float(c) }
    }
    return out
}
