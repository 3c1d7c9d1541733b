import Foundation
import Tensor

/// MONAI's `DiceCELoss(to_onehot_y=True, softmax=True)` — mean soft Dice over batch and classes
/// (background included, `smooth_nr = smooth_dr = 1e-5`, sums over voxels per sample) plus mean
/// cross entropy over all voxels — optionally on merged classes (the marginal loss).
///
/// Marginal loss (Shi et al. 2021; ConDistFL): a site that does not annotate some organs labels
/// them background. With `classMap[c]` the merged class of predicted class `c`, the softmax
/// probabilities of classes sharing a merged class are summed (`q_m = sum p_c`), labels are mapped
/// the same way, and Dice and cross entropy are computed on `q` over the merged classes. The
/// identity map (`nil`) is the plain loss.
///
/// Layout: logits `N x K x D x H x W`; labels `N x 1 x D x H x W` holding class indices `0..<K`.
public struct DiceCELoss: Sendable {
    /// Merged class of each predicted class (nil: identity).
    public let classMap: [Int]?
    /// Dice smoothing added to numerator and denominator.
    public var smooth: Double = 1e-5

    /// The loss, on merged classes when `classMap` is given (its values must be `0..<M` and
    /// cover every merged class).
    public init(classMap: [Int]? = nil) {
        if let m = classMap {
            let merged = (m.max() ?? -1) + 1
            precondition(m.allSatisfy { $0 >= 0 } && Set(m) == Set(0..<merged),
                         "DiceCELoss: classMap \(m) must cover merged classes 0..<\(merged)")
        }
        self.classMap = classMap
    }

    /// A marginal loss for a site that annotates only `annotated` classes of `classes`
    /// (0, background, always included): every other class is merged into background.
    public static func marginal(classes: Int, annotated: [Int]) -> DiceCELoss {
        let kept = [0] + annotated.filter { $0 != 0 }.sorted()
        return DiceCELoss(classMap: (0..<classes).map { kept.firstIndex(of: $0) ?? 0 })
    }

    /// The loss and its gradient with respect to the logits.
    /// - Precondition: shapes as documented; labels integral in `0..<K`.
    public func callAsFunction(logits: Tensor, labels: Tensor) -> (loss: Float, gradient: Tensor) {
        let (l, g) = compute(Activation(logits), labels: labelIndices(labels, logits: logits.shape))
        return (Float(l), g.tensor)
    }

    /// Labels as Int32 class indices, validated against the logits' shape.
    func labelIndices(_ labels: Tensor, logits shape: [Int]) -> [Int32] {
        precondition(shape.count == 5, "DiceCELoss: logits shape \(shape) is not N x K x D x H x W")
        precondition(labels.shape == [shape[0], 1] + shape[2...],
                     "DiceCELoss: labels shape \(labels.shape) does not match logits \(shape) (needs N x 1 x D x H x W)")
        let k = shape[1]
        return labels.scalars.map { v in
            precondition(v >= 0 && v < Float(k) && v.rounded() == v, "DiceCELoss: label \(v) is not a class index in 0..<\(k)")
            return Int32(v)
        }
    }

    /// Loss (Double) and gradient for logits `z` and labels (class indices, `N * D * H * W`).
    func compute(_ z: Activation, labels: [Int32]) -> (Double, Activation) {
        let k = z.c, v = z.spatial, n = z.n
        let map = classMap ?? Array(0..<k)
        precondition(map.count == k, "DiceCELoss: classMap has \(map.count) entries for \(k) classes")
        let m = (map.max() ?? 0) + 1
        let grad = z.like(channels: k)
        // Pass 1, per chunk of voxels and plane by plane: softmax into `grad`; per-chunk sums of
        // intersection, prediction, ground truth and cross entropy.
        let chunk = 4096
        let chunksPerSample = (v + chunk - 1) / chunk
        let tasks = n * chunksPerSample
        let stride = 3 * m + 1
        var partial = [Double](repeating: 0, count: tasks * stride)
        let pz = UncheckedSendable(z.pointer), pg = UncheckedSendable(grad.pointer)
        labels.withUnsafeBufferPointer { lb in
            let pl = UncheckedSendable(lb.baseAddress!)
            partial.withUnsafeMutableBufferPointer { pp in
                let out = UncheckedSendable(pp.baseAddress!)
                Compute.forEachTask(tasks) { _, t in
                    let s = t / chunksPerSample, lo = (t % chunksPerSample) * chunk, len = min(v, lo + chunk) - lo
                    let mx = UnsafeMutablePointer<Float>.allocate(capacity: 2 * len)
                    defer { mx.deallocate() }
                    let sum = mx + len
                    let zb = pz.value + s * k * v + lo, gb = pg.value + s * k * v + lo, lab = pl.value + s * v + lo
                    mx.update(from: zb, count: len)
                    for c in 1..<max(k, 1) { let zc = zb + c * v; for i in 0..<len { mx[i] = max(mx[i], zc[i]) } }
                    sum.update(repeating: 0, count: len)
                    for c in 0..<k {
                        let zc = zb + c * v, gc = gb + c * v
                        for i in 0..<len { let e = expf(zc[i] - mx[i]); gc[i] = e; sum[i] += e }
                    }
                    let o = out.value + t * stride
                    for i in 0..<len { sum[i] = 1 / sum[i] }
                    for c in 0..<k {
                        let gc = gb + c * v
                        for i in 0..<len { gc[i] *= sum[i] }
                        o[m + map[c]] += sumDouble(gc, len)
                    }
                    // Per voxel: the label's merged probability, Dice intersection, cross entropy
                    // (log q_t = z_t - max - log sum for a one-class group, exactly).
                    var ce = 0.0, ceBlock: Float = 0
                    for i in 0..<len {
                        let tc = map[Int(lab[i])]
                        var q: Float = 0, members = 0, member = 0
                        for c in 0..<k where map[c] == tc { q += gb[c * v + i]; members += 1; member = c }
                        o[tc] += Double(q); o[2 * m + tc] += 1
                        ceBlock -= members == 1 ? zb[member * v + i] - mx[i] + logf(sum[i]) : logf(q)
                        if i & 255 == 255 { ce += Double(ceBlock); ceBlock = 0 }
                    }
                    o[3 * m] = ce + Double(ceBlock)
                }
            }
        }
        // Reduce per sample and class; Dice terms and their derivative coefficients.
        var inter = [Double](repeating: 0, count: n * m), pred = inter, truth = inter
        var ce = 0.0
        for t in 0..<tasks {
            let s = t / chunksPerSample, o = t * stride
            for j in 0..<m {
                inter[s * m + j] += partial[o + j]; pred[s * m + j] += partial[o + m + j]
                truth[s * m + j] += partial[o + 2 * m + j]
            }
            ce += partial[o + 3 * m]
        }
        let voxels = Double(n * v)
        ce /= voxels
        var dice = 0.0
        // dDice/dq[s, j, i] = a[s, j] * onehot + b[s, j]
        var coefA = [Float](repeating: 0, count: n * m), coefB = coefA
        let scale = 1 / Double(n * m)
        for idx in 0..<(n * m) {
            let den = truth[idx] + pred[idx] + smooth
            let num = 2 * inter[idx] + smooth
            dice += 1 - num / den
            coefA[idx] = Float(-2 * scale / den)
            coefB[idx] = Float(scale * num / (den * den))
        }
        dice *= scale
        // Pass 2: gradient through the merge and the softmax, plus cross entropy's:
        // dz_c = p_c (g_mc - sum_j p_j g_mj) + (p_c - [mc = t] p_c / q_t) / voxels, with
        // g_j = coefB_j + [j = t] coefA_j.
        let ceScale = Float(1 / voxels)
        labels.withUnsafeBufferPointer { lb in
            let pl = UncheckedSendable(lb.baseAddress!)
            Compute.forEachTask(tasks) { _, t in
                let s = t / chunksPerSample, lo = (t % chunksPerSample) * chunk, len = min(v, lo + chunk) - lo
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 3 * len)
                defer { scratch.deallocate() }
                let dot = scratch, hitA = scratch + len, hitB = hitA + len
                let gb = pg.value + s * k * v + lo, lab = pl.value + s * v + lo
                // dot = sum_c p_c coefB_mc + q_t coefA_t; hitA = coefA_t - ceScale / q_t.
                dot.update(repeating: 0, count: len)
                for c in 0..<k {
                    let gc = gb + c * v, b = coefB[s * m + map[c]]
                    for i in 0..<len { dot[i] += gc[i] * b }
                }
                for i in 0..<len {
                    let tc = map[Int(lab[i])]
                    var q: Float = 0
                    for c in 0..<k where map[c] == tc { q += gb[c * v + i] }
                    let a = coefA[s * m + tc]
                    dot[i] += q * a
                    hitA[i] = a - ceScale / q
                    hitB[i] = Float(tc)
                }
                for c in 0..<k {
                    let gc = gb + c * v, b = coefB[s * m + map[c]] + ceScale, mc = Float(map[c])
                    for i in 0..<len {
                        let p = gc[i]
                        gc[i] = p * (b - dot[i] + (hitB[i] == mc ? hitA[i] : 0))
                    }
                }
            }
        }
        return (dice + ce, grad)
    }
}
