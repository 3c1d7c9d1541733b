import Tensor
import Foundation

/// Sliding-window inference over a whole volume with Gaussian-weighted blending of overlapping
/// windows, as MONAI's `sliding_window_inference(mode="gaussian", sigma_scale=0.125,
/// padding_mode="constant", cval=0)`: windows of ``roi`` step by `roi * (1 - overlap)`, the last
/// window of each axis is moved back to end at the border, images smaller than the window are padded
/// symmetrically with 0, and each window's output is weighted by a Gaussian importance map
/// (sigma = 0.125 * roi, clamped below at its minimum or 1e-3). The three spatial axes are the tensor's,
/// which for a ``Volume/tensor`` are the volume's (i, j, k) as in MONAI.
public struct SlidingWindow: Sendable {
    /// A network: a batch of patches `[B, C, D, H, W]` to logits `[B, K, D, H, W]`.
    public typealias Predictor = (Tensor) throws -> Tensor

    /// Window size along the tensor's spatial axes (D, H, W), i.e. (i, j, k) of a ``Volume/tensor``.
    public var roi: [Int]
    /// Fraction of a window shared with its neighbour along each axis (0 ..< 1).
    public var overlap: Double
    /// Windows per predictor call.
    public var batchSize: Int
    /// Gaussian sigma as a fraction of the window size.
    public var sigmaScale: Double

    /// A sliding-window inferer. - Precondition: positive roi, `0 <= overlap < 1`, `batchSize >= 1`.
    public init(roi: [Int] = [96, 96, 96], overlap: Double = 0.25, batchSize: Int = 1, sigmaScale: Double = 0.125) {
        precondition(roi.count == 3 && roi.allSatisfy { $0 > 0 }, "SlidingWindow: roi must be 3 positive sizes, got \(roi)")
        precondition(overlap >= 0 && overlap < 1, "SlidingWindow: overlap must be in 0..<1, got \(overlap)")
        precondition(batchSize >= 1, "SlidingWindow: batchSize must be at least 1")
        self.roi = roi
        self.overlap = overlap
        self.batchSize = batchSize
        self.sigmaScale = sigmaScale
    }

    /// Window start positions along one axis of extent `size` (after padding to at least the roi).
    public func starts(size: Int, roi r: Int) -> [Int] {
        guard size > r else { return [0] }
        let interval = max(Int(Double(r) * (1 - overlap)), 1)
        var n = 0
        while n * interval + r < size { n += 1 }
        return (0...n).map { min($0 * interval, size - r) }
    }

    /// The Gaussian importance map of the window, `roi` elements in tensor order (the last axis fastest), as
    /// MONAI's `compute_importance_map` (monai/data/utils.py, MONAI 1.5): per axis `exp(-x^2 / (2 sigma^2))` at
    /// `x = -(n-1)/2 ... (n-1)/2` in float32, their outer product (not rescaled), clamped below at its minimum or
    /// 1e-3, whichever is larger.
    public func importanceMap() -> [Float] {
        let axes = (0..<3).map { a -> [Float] in
            let n = roi[a], sigma = Float(Double(n) * sigmaScale)
            return (0..<n).map { i in let x = Float(i) - Float(n - 1) / 2; return exp(x * x / (-2 * sigma * sigma)) }
        }
        var map = [Float]()
        map.reserveCapacity(roi.reduce(1, *))
        for z in axes[0] { for y in axes[1] { for x in axes[2] { map.append(z * y * x) } } }
        let floor = max(map.min() ?? 1e-3, 1e-3)
        return map.map { max($0, floor) }
    }

    /// Runs `predictor` over every window of `input` (`[1, C, D, H, W]`) and returns the blended
    /// output `[1, K, D, H, W]` on the input's spatial grid.
    public func callAsFunction(_ input: Tensor, predictor: Predictor) throws -> Tensor {
        precondition(input.rank == 5 && input.shape[0] == 1, "SlidingWindow: input must be [1, C, D, H, W], got \(input.shape)")
        let c = input.shape[1], orig = Array(input.shape[2...])
        let size = (0..<3).map { max(orig[$0], roi[$0]) }
        let padLo = (0..<3).map { (size[$0] - orig[$0]) / 2 }
        let starts = (0..<3).map { self.starts(size: size[$0], roi: roi[$0]) }
        var windows = [[Int]]()
        for z in starts[0] { for y in starts[1] { for x in starts[2] { windows.append([z, y, x]) } } }
        let weight = importanceMap()
        let roiCount = roi.reduce(1, *)
        var out: [Float] = [], norm = [Float](repeating: 0, count: size.reduce(1, *))
        var k = 0
        for first in stride(from: 0, to: windows.count, by: batchSize) {
            let batch = Array(windows[first..<min(first + batchSize, windows.count)])
            var patch = [Float](repeating: 0, count: batch.count * c * roiCount)
            input.scalars.withUnsafeBufferPointer { src in
                patch.withUnsafeMutableBufferPointer { dst in
                    for (b, w) in batch.enumerated() {
                        for ch in 0..<c { for dz in 0..<roi[0] {
                            let sz = w[0] + dz - padLo[0]
                            guard sz >= 0, sz < orig[0] else { continue }
                            for dy in 0..<roi[1] {
                                let sy = w[1] + dy - padLo[1]
                                guard sy >= 0, sy < orig[1] else { continue }
                                let x0 = max(0, padLo[2] - w[2]), x1 = min(roi[2], orig[2] + padLo[2] - w[2])
                                guard x0 < x1 else { continue }
                                let from = ((ch * orig[0] + sz) * orig[1] + sy) * orig[2] + w[2] + x0 - padLo[2]
                                let to = (((b * c + ch) * roi[0] + dz) * roi[1] + dy) * roi[2] + x0
                                _ = UnsafeMutableBufferPointer(rebasing: dst[to..<(to + x1 - x0)])
                                    .update(fromContentsOf: src[from..<(from + x1 - x0)])
                            }
                        } }
                    }
                }
            }
            let logits = try predictor(Tensor(shape: [batch.count, c] + roi, scalars: patch))
            guard logits.rank == 5, logits.shape[0] == batch.count, Array(logits.shape[2...]) == roi else {
                throw SlidingWindowError.badPredictorOutput(expected: [batch.count, -1] + roi, got: logits.shape)
            }
            if out.isEmpty { k = logits.shape[1]; out = [Float](repeating: 0, count: k * norm.count) }
            accumulate(logits.scalars, windows: batch, classes: k, weight: weight, size: size, into: &out, norm: &norm)
        }
        // normalise and crop the padding away
        if size == orig {
            // no padding: normalise in place
            let total = norm.count
            out.withUnsafeMutableBufferPointer { o in norm.withUnsafeBufferPointer { nm in
                let (ob, nb) = (UncheckedBox(o), UncheckedBox(nm))
                parallelFor(k * orig[0]) { slab in
                    let base = (slab % orig[0]) * orig[1] * orig[2]
                    for v in base..<(base + orig[1] * orig[2]) { ob.value[(slab / orig[0]) * total + v] /= nb.value[v] }
                }
            } }
            return Tensor(shape: [1, k] + orig, scalars: out)
        }
        var result = [Float](repeating: 0, count: k * orig.reduce(1, *))
        let rows = k * orig[0] * orig[1], total = norm.count
        out.withUnsafeBufferPointer { o in norm.withUnsafeBufferPointer { nm in result.withUnsafeMutableBufferPointer { r in
            let (ob, nb, rb) = (UncheckedBox(o), UncheckedBox(nm), UncheckedBox(r))
            parallelFor(rows) { line in
                let ch = line / (orig[0] * orig[1]), z = (line / orig[1]) % orig[0], y = line % orig[1]
                let row = ((z + padLo[0]) * size[1] + y + padLo[1]) * size[2] + padLo[2]
                for x in 0..<orig[2] { rb.value[line * orig[2] + x] = ob.value[ch * total + row + x] / nb.value[row + x] }
            }
        } } }
        return Tensor(shape: [1, k] + orig, scalars: result)
    }

    /// Adds each window's weighted logits and weights into the padded-size accumulators.
    private func accumulate(_ logits: [Float], windows: [[Int]], classes k: Int, weight: [Float], size: [Int],
                            into out: inout [Float], norm: inout [Float]) {
        let total = norm.count, plane = size[1] * size[2]
        logits.withUnsafeBufferPointer { lg in weight.withUnsafeBufferPointer { wt in
            out.withUnsafeMutableBufferPointer { o in norm.withUnsafeMutableBufferPointer { nm in
                let (lb, wb, obx, nbx) = (UncheckedBox(lg), UncheckedBox(wt), UncheckedBox(o), UncheckedBox(nm))
                for (b, w) in windows.enumerated() {
                    // rows of one window never overlap each other: split them across workers
                    parallelFor(roi[0]) { dz in
                        for dy in 0..<roi[1] {
                            let row = (w[0] + dz) * plane + (w[1] + dy) * size[2] + w[2]
                            let wrow = (dz * roi[1] + dy) * roi[2]
                            for dx in 0..<roi[2] { nbx.value[row + dx] += wb.value[wrow + dx] }
                            for ch in 0..<k {
                                let lrow = (((b * k + ch) * roi[0] + dz) * roi[1] + dy) * roi[2]
                                let orow = ch * total + row
                                for dx in 0..<roi[2] { obx.value[orow + dx] += lb.value[lrow + dx] * wb.value[wrow + dx] }
                            }
                        }
                    }
                }
            } }
        } }
    }
}

/// A predictor returned something other than one logits patch per window.
public enum SlidingWindowError: Error, Equatable, CustomStringConvertible {
    /// Shape expected (-1 for any class count) and shape returned.
    case badPredictorOutput(expected: [Int], got: [Int])
    public var description: String {
        switch self {
        case .badPredictorOutput(let e, let g): "sliding window: predictor returned shape \(g), expected \(e) (-1: any)"
        }
    }
}
