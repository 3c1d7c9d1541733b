import Foundation
import Tensor

/// ConDistFL's conditional distillation (Wang et al. 2023): a site that annotates only the classes `foreground`
/// learns what the global model (the teacher) knows about the classes it does not annotate, but only where its
/// own labels say "not my organ".
///
/// With `p = softmax(z / T)` of the student's logits and `u = softmax(t / T)` of the teacher's, per voxel and for
/// each background group `g` (background and each class the site does not annotate, ``groups``):
///
///     q_g = (sum of p_c, c in g) / (1 - sum of p_f, f in foreground + eps)     (likewise r_g from u)
///
/// the probability of `g` given "not one of my organs". The mask `m` is 1 except where the site's label or the
/// teacher's argmax is one of the site's organs (the labelled foreground and the teacher's false positives are
/// excluded). The loss is MONAI's masked soft Dice over the batch (`batch=True`), averaged over groups:
///
///     L = mean_g [1 - (2 sum m q_g r_g + smoothNr) / (sum m q_g + sum m r_g + smoothDr)]
///
/// The teacher is constant (no gradient flows into it). Layout: logits `N x K x D x H x W`, labels
/// `N x 1 x D x H x W` class indices.
public struct ConditionalDistillation: Sendable, Equatable {
    /// Classes of the network (background included).
    public let classes: Int
    /// The classes the site annotates (never 0).
    public let foreground: [Int]
    /// Background groups: `[0]` and each class the site does not annotate, in class order.
    public let groups: [[Int]]
    /// Softmax temperature (ConDistFL: 2).
    public let temperature: Double
    /// Added to `1 - sum p_f` before dividing.
    public var eps: Double = 1e-5
    /// Dice smoothing of the numerator (ConDistFL: 0) and denominator (1e-5).
    public var smoothNr: Double = 0, smoothDr: Double = 1e-5

    /// The distillation for a site annotating `annotated` of `classes` classes, at `temperature`.
    public init(classes: Int, annotated: [Int], temperature: Double = 2) {
        precondition(classes >= 2 && temperature > 0, "ConditionalDistillation: needs 2+ classes and a positive temperature")
        let fg = Set(annotated.filter { $0 > 0 && $0 < classes })
        foreground = fg.sorted()
        groups = (0..<classes).filter { !fg.contains($0) }.map { [$0] }
        self.classes = classes
        self.temperature = temperature
    }

    /// The loss and its gradient with respect to the student's logits.
    public func callAsFunction(student: Tensor, teacher: Tensor, labels: Tensor) -> (loss: Float, gradient: Tensor) {
        precondition(student.shape == teacher.shape, "ConditionalDistillation: student \(student.shape) vs teacher \(teacher.shape)")
        let idx = DiceCELoss().labelIndices(labels, logits: student.shape)
        let z = Activation(student), t = Activation(teacher)
        let g = z.like(channels: z.c, zeroed: true)
        let l = accumulate(student: z, teacher: t, labels: idx, weight: 1, into: g)
        return (Float(l), g.tensor)
    }

    /// The loss (Double); adds `weight` x its gradient with respect to `z` into `grad` (same shape).
    func accumulate(student z: Activation, teacher t: Activation, labels: [Int32], weight: Double, into grad: Activation) -> Double {
        precondition(z.c == classes && t.shape == z.shape && grad.shape == z.shape, "ConditionalDistillation: shapes")
        let k = classes, v = z.spatial, gCount = groups.count
        let groupOf: [Int] = (0..<k).map { c in groups.firstIndex { $0.contains(c) } ?? -1 }
        let isFg: [Bool] = (0..<k).map { foreground.contains($0) }
        let invT = 1 / temperature
        // Per voxel: the student's p (kept for the backward), q_g, D = 1 - sum p_f + eps; the teacher's r_g; mask.
        let total = z.n * v
        var p = [Double](repeating: 0, count: total * k)
        var q = [Double](repeating: 0, count: total * gCount), r = q
        var den = [Double](repeating: 0, count: total), mask = [Bool](repeating: false, count: total)
        var inter = [Double](repeating: 0, count: gCount), sumQ = inter, sumR = inter
        var e = [Double](repeating: 0, count: k), u = e
        for n in 0..<z.n {
            let zb = z.pointer + n * k * v, tb = t.pointer + n * k * v
            for i in 0..<v {
                let at = n * v + i
                softmax(zb, i, v, k, invT, &e)
                softmax(tb, i, v, k, invT, &u)
                var fgS = 0.0, fgT = 0.0, best = 0
                for c in 0..<k {
                    p[at * k + c] = e[c]
                    if isFg[c] { fgS += e[c]; fgT += u[c] }
                    if tb[c * v + i] > tb[best * v + i] { best = c }
                }
                let ds = 1 - fgS + eps, dt = 1 - fgT + eps
                den[at] = ds
                for c in 0..<k where groupOf[c] >= 0 {
                    q[at * gCount + groupOf[c]] += e[c] / ds
                    r[at * gCount + groupOf[c]] += u[c] / dt
                }
                let m = !isFg[Int(labels[at])] && !isFg[best]
                mask[at] = m
                if m {
                    for g in 0..<gCount {
                        inter[g] += q[at * gCount + g] * r[at * gCount + g]
                        sumQ[g] += q[at * gCount + g]; sumR[g] += r[at * gCount + g]
                    }
                }
            }
        }
        var loss = 0.0
        var a = [Double](repeating: 0, count: gCount), b = a  // dL/dq_g = m (a_g r_g + b_g)
        for g in 0..<gCount {
            let num = 2 * inter[g] + smoothNr, d = sumQ[g] + sumR[g] + smoothDr
            loss += 1 - num / d
            a[g] = -2 / d / Double(gCount)
            b[g] = num / (d * d) / Double(gCount)
        }
        loss /= Double(gCount)
        var dq = [Double](repeating: 0, count: gCount), dp = [Double](repeating: 0, count: k)
        for n in 0..<z.n {
            let gb = grad.pointer + n * k * v
            for i in 0..<v {
                let at = n * v + i
                guard mask[at] else { continue }
                var fgTerm = 0.0
                for g in 0..<gCount {
                    dq[g] = a[g] * r[at * gCount + g] + b[g]
                    fgTerm += dq[g] * q[at * gCount + g]
                }
                // q_g = s_g / D: dq_g/dp_c = [c in g] / D; dD/dp_f = -1, so dq_g/dp_f = q_g / D.
                let ds = den[at]
                var dot = 0.0
                for c in 0..<k {
                    dp[c] = (groupOf[c] >= 0 ? dq[groupOf[c]] : 0) / ds + (isFg[c] ? fgTerm / ds : 0)
                    dot += p[at * k + c] * dp[c]
                }
                for c in 0..<k {
                    gb[c * v + i] += Float(weight * invT * p[at * k + c] * (dp[c] - dot))
                }
            }
        }
        return loss
    }
}

/// The exclusion loss of Shi et al. 2021 ("Marginal loss and exclusion loss for partially supervised multi-organ
/// segmentation", MedIA): a voxel a site labels as one of its organs is known not to be any organ the site does
/// not annotate, so the predicted probability `p_c` of each such organ `c` is pushed to zero on the site's labelled
/// foreground `e`. Per organ `c` (averaged over those organs), over the batch:
///
///     L_c = 2 sum e p_c / (sum e + sum p_c + smooth)  -  mean over voxels of e log(1 - p_c + eps)
///
/// (an exclusion Dice and an exclusion cross entropy; the paper writes the latter as `e log p_c`, unbounded
/// below; the bounded `-log(1 - p_c)` has the same minimiser). `p = softmax(z)`.
public struct ExclusionLoss: Sendable, Equatable {
    /// Classes of the network (background included).
    public let classes: Int
    /// The classes the site annotates.
    public let foreground: [Int]
    /// The organs it does not annotate (never 0).
    public let excluded: [Int]
    /// Dice denominator smoothing and the logarithm's guard.
    public var smooth: Double = 1e-5, eps: Double = 1e-6

    /// The loss for a site annotating `annotated` of `classes` classes.
    public init(classes: Int, annotated: [Int]) {
        let fg = Set(annotated.filter { $0 > 0 && $0 < classes })
        foreground = fg.sorted()
        excluded = (1..<max(classes, 1)).filter { !fg.contains($0) }
        self.classes = classes
    }

    /// The loss and its gradient with respect to the logits.
    public func callAsFunction(logits: Tensor, labels: Tensor) -> (loss: Float, gradient: Tensor) {
        let idx = DiceCELoss().labelIndices(labels, logits: logits.shape)
        let z = Activation(logits)
        let g = z.like(channels: z.c, zeroed: true)
        let l = accumulate(z, labels: idx, weight: 1, into: g)
        return (Float(l), g.tensor)
    }

    /// The loss (Double); adds `weight` x its gradient with respect to `z` into `grad`.
    func accumulate(_ z: Activation, labels: [Int32], weight: Double, into grad: Activation) -> Double {
        precondition(z.c == classes && grad.shape == z.shape, "ExclusionLoss: shapes")
        guard !excluded.isEmpty, !foreground.isEmpty else { return 0 }
        let k = classes, v = z.spatial, total = z.n * v, oc = excluded.count
        let isFg: [Bool] = (0..<k).map { foreground.contains($0) }
        var p = [Double](repeating: 0, count: total * k), e = [Double](repeating: 0, count: k)
        var sumE = 0.0, inter = [Double](repeating: 0, count: oc), sumP = inter, ce = inter
        for n in 0..<z.n {
            let zb = z.pointer + n * k * v
            for i in 0..<v {
                let at = n * v + i
                softmax(zb, i, v, k, 1, &e)
                for c in 0..<k { p[at * k + c] = e[c] }
                let ei = isFg[Int(labels[at])] ? 1.0 : 0.0
                sumE += ei
                for (j, c) in excluded.enumerated() {
                    inter[j] += ei * e[c]; sumP[j] += e[c]
                    if ei > 0 { ce[j] -= log(1 - e[c] + eps) }
                }
            }
        }
        let vox = Double(total), scale = 1 / Double(oc)
        var loss = 0.0
        var a = [Double](repeating: 0, count: oc), b = a  // dL/dp_c = a e + b (Dice) + e / (V (1 - p + eps)) (CE)
        for j in 0..<oc {
            let d = sumE + sumP[j] + smooth, num = 2 * inter[j]
            loss += num / d + ce[j] / vox
            a[j] = 2 / d * scale
            b[j] = -num / (d * d) * scale
        }
        loss *= scale
        var dp = [Double](repeating: 0, count: k)
        for n in 0..<z.n {
            let gb = grad.pointer + n * k * v
            for i in 0..<v {
                let at = n * v + i
                let ei = isFg[Int(labels[at])] ? 1.0 : 0.0
                for c in 0..<k { dp[c] = 0 }
                var dot = 0.0
                for (j, c) in excluded.enumerated() {
                    let pc = p[at * k + c]
                    dp[c] = a[j] * ei + b[j] + ei * scale / (vox * (1 - pc + eps))
                }
                for c in 0..<k { dot += p[at * k + c] * dp[c] }
                for c in 0..<k { gb[c * v + i] += Float(weight * p[at * k + c] * (dp[c] - dot)) }
            }
        }
        return loss
    }
}

/// Softmax over the `k` classes of voxel `i` (class stride `v`) of `zb / T` (`invT` = 1/T), into `out`.
@inline(__always)
private func softmax(_ zb: UnsafeMutablePointer<Float>, _ i: Int, _ v: Int, _ k: Int, _ invT: Double, _ out: inout [Double]) {
    var mx = -Double.infinity
    for c in 0..<k { mx = max(mx, Double(zb[c * v + i]) * invT) }
    var s = 0.0
    for c in 0..<k { let x = exp(Double(zb[c * v + i]) * invT - mx); out[c] = x; s += x }
    for c in 0..<k { out[c] /= s }
}
