import Tensor

/// The normalisation inside each convolution block of the ``UNet``.
public enum Normalization: String, Sendable, Codable, CaseIterable {
    /// `BatchNorm3d` (affine; running statistics with momentum 0.1; eval mode uses them).
    case batch
    /// `InstanceNorm3d` without affine parameters (MONAI's `norm="instance"`).
    case instance
    /// `InstanceNorm3d(affine=True)`.
    case instanceAffine
}

/// MONAI's `ADN` with ordering "NDA" and no dropout: normalisation then PReLU (one slope).
///
/// Layout: `N x C x D x H x W` in and out. Batch norm reduces over `N, D, H, W` per channel,
/// instance norm over `D, H, W` per sample and channel; both use the biased variance and
/// `eps = 1e-5`. Batch norm in training updates `running_mean`, `running_var` (unbiased) with
/// momentum 0.1 and increments `num_batches_tracked`. PReLU: `y > 0 ? y : a * y`.
final class NormPReLU: Layer {
    let kind: Normalization
    let channels: Int
    let eps: Double = 1e-5, momentum: Double = 0.1
    private(set) var gamma: Int? = nil, beta: Int? = nil
    private(set) var runningMean: Int? = nil, runningVar: Int? = nil, counter: Int? = nil
    let slope: Int
    private var saved: (z: Activation, mean: [Float], invstd: [Float])?

    init(_ b: StoreBuilder, name: String, channels c: Int, kind: Normalization) {
        self.kind = kind; channels = c
        if kind != .instance {
            gamma = b.add(name + ".N.weight", shape: [c], values: .init(repeating: 1, count: c))
            beta = b.add(name + ".N.bias", shape: [c], values: .init(repeating: 0, count: c))
        }
        if kind == .batch {
            runningMean = b.add(name + ".N.running_mean", shape: [c], kind: .buffer, values: .init(repeating: 0, count: c))
            runningVar = b.add(name + ".N.running_var", shape: [c], kind: .buffer, values: .init(repeating: 1, count: c))
            counter = b.addInteger(name + ".N.num_batches_tracked")
        }
        slope = b.add(name + ".A.weight", shape: [1], values: [0.25])
    }

    /// Group of slice `t = n * C + c`: the channel for batch norm, the slice itself for instance norm.
    private func group(_ t: Int) -> Int { kind == .batch ? t % channels : t }

    func forward(_ z: Activation, _ ctx: Context) -> Activation {
        precondition(z.c == channels, "NormPReLU: input has \(z.c) channels, layer expects \(channels) (shape \(z.shape))")
        return ctx.timed("norm+prelu fwd") { forwardBody(z, ctx) }
    }

    private func forwardBody(_ z: Activation, _ ctx: Context) -> Activation {
        let s = z.spatial, slices = z.n * channels
        let groups = kind == .batch ? channels : slices
        let perGroup = kind == .batch ? z.n : 1
        var mean = [Float](repeating: 0, count: groups), invstd = [Float](repeating: 0, count: groups)
        if kind == .batch && !ctx.training {
            for c in 0..<channels {
                mean[c] = ctx.params[runningMean! + c]
                invstd[c] = Float(1 / (Double(ctx.params[runningVar! + c]) + eps).squareRoot())
            }
        } else {
            var m = [Double](repeating: 0, count: groups), v = [Double](repeating: 0, count: groups)
            let pz = UncheckedSendable(z.pointer), ch = channels, isBatch = kind == .batch
            m.withUnsafeMutableBufferPointer { mp in
                v.withUnsafeMutableBufferPointer { vp in
                    let pm = UncheckedSendable(mp.baseAddress!), pv = UncheckedSendable(vp.baseAddress!)
                    Compute.forEachTask(groups) { _, gi in
                        let members = isBatch ? (0..<z.n).map { ($0 * ch + gi) * s } : [gi * s]
                        var sum = 0.0
                        for o in members { sum += sumDouble(pz.value + o, s) }
                        let mu = sum / Double(members.count * s)
                        var sq = 0.0
                        for o in members { sq += sumSquaredDeviation(pz.value + o, s, Float(mu)) }
                        // Correct for the Float rounding of the centre: E[(x-c)^2] - (mu-c)^2.
                        let shift = mu - Double(Float(mu))
                        pm.value[gi] = mu
                        pv.value[gi] = max(0, sq / Double(members.count * s) - shift * shift)
                    }
                }
            }
            for g in 0..<groups {
                mean[g] = Float(m[g]); invstd[g] = Float(1 / (v[g] + eps).squareRoot())
            }
            if kind == .batch {
                let n = Double(perGroup * s)
                for c in 0..<channels {
                    let rm = runningMean! + c, rv = runningVar! + c
                    ctx.params[rm] = Float((1 - momentum) * Double(ctx.params[rm]) + momentum * m[c])
                    let unbiased = n > 1 ? v[c] * n / (n - 1) : v[c]
                    ctx.params[rv] = Float((1 - momentum) * Double(ctx.params[rv]) + momentum * unbiased)
                }
                ctx.store.integerBuffers[counter!].value += 1
            }
        }
        let a = z.like(channels: channels)
        let pz = UncheckedSendable(z.pointer), pa = UncheckedSendable(a.pointer), pp = UncheckedSendable(ctx.params)
        let (gm, bt, sl, ch) = (gamma, beta, slope, channels)
        let isBatch = kind == .batch
        mean.withUnsafeBufferPointer { mb in invstd.withUnsafeBufferPointer { ib in
            let mp = UncheckedSendable(mb), ip = UncheckedSendable(ib)
            let parts = partsPerSlice(slices, s)
            Compute.forEachTask(slices * parts) { _, task in
                let t = task / parts, range = part(task % parts, of: parts, s)
                let c = t % ch, g = isBatch ? c : t
                let scale = (gm.map { pp.value[$0 + c] } ?? 1) * ip.value[g]
                let shift = (bt.map { pp.value[$0 + c] } ?? 0) - mp.value[g] * scale
                let slopeV = pp.value[sl]
                let src = pz.value + t * s, dst = pa.value + t * s
                for i in range {
                    let y = src[i] * scale + shift
                    dst[i] = y > 0 ? y : slopeV * y
                }
            }
        } }
        saved = ctx.training ? (z, mean, invstd) : nil
        return a
    }

    func backward(_ da: Activation, _ ctx: Context) -> Activation? {
        ctx.timed("norm+prelu bwd") { backwardBody(da, ctx) }
    }

    private func backwardBody(_ da: Activation, _ ctx: Context) -> Activation? {
        guard let (z, mean, invstd) = saved else { preconditionFailure("NormPReLU.backward without a training forward") }
        saved = nil
        let s = z.spatial, slices = z.n * channels, ch = channels
        let isBatch = kind == .batch
        let count = Double(isBatch ? z.n * s : s)
        let dz = z.like(channels: channels)
        let parts = partsPerSlice(slices, s)
        var sdy = [Double](repeating: 0, count: slices * parts), sdyx = sdy, dsl = sdy
        let pz = UncheckedSendable(z.pointer), pda = UncheckedSendable(da.pointer), pdz = UncheckedSendable(dz.pointer)
        let pp = UncheckedSendable(ctx.params)
        let (gm, bt, sl) = (gamma, beta, slope)
        func gammaOf(_ c: Int) -> Float { gm.map { pp.value[$0 + c] } ?? 1 }
        // Pass 1: PReLU gradient, per-slice sums of dy and dy * xhat.
        sdy.withUnsafeMutableBufferPointer { a in sdyx.withUnsafeMutableBufferPointer { b in dsl.withUnsafeMutableBufferPointer { e in
            let pa = UncheckedSendable(a.baseAddress!), pb = UncheckedSendable(b.baseAddress!), pe = UncheckedSendable(e.baseAddress!)
            Compute.forEachTask(slices * parts) { _, task in
                let t = task / parts, range = part(task % parts, of: parts, s)
                let c = t % ch, g = isBatch ? c : t
                let mu = mean[g], inv = invstd[g], gmv = gammaOf(c)
                let btv = bt.map { pp.value[$0 + c] } ?? 0
                let slopeV = pp.value[sl]
                let o = t * s + range.lowerBound
                let (s1, s2, s3) = preluNormBackward(z: pz.value + o, dA: pda.value + o, into: pdz.value + o,
                                                     count: range.count, mean: mu, invstd: inv,
                                                     gamma: gmv, beta: btv, slope: slopeV)
                pa.value[task] = s1; pb.value[task] = s2; pe.value[task] = s3
            }
        } } }
        // Reduce to groups, accumulate parameter gradients.
        let groups = isBatch ? ch : slices
        var gdy = [Double](repeating: 0, count: groups), gdyx = gdy
        for task in 0..<(slices * parts) {
            let t = task / parts, g = isBatch ? t % ch : t
            gdy[g] += sdy[task]; gdyx[g] += sdyx[task]
        }
        if let gm { for c in 0..<ch { ctx.grads[gm + c] += Float(isBatch ? gdyx[c] : stride(from: c, to: slices, by: ch).reduce(0) { $0 + gdyx[$1] }) } }
        if let bt { for c in 0..<ch { ctx.grads[bt + c] += Float(isBatch ? gdy[c] : stride(from: c, to: slices, by: ch).reduce(0) { $0 + gdy[$1] }) } }
        ctx.grads[slope] += Float(dsl.reduce(0, +))
        // Pass 2: dz = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)).
        Compute.forEachTask(slices * parts) { _, task in
            let t = task / parts, range = part(task % parts, of: parts, s)
            let c = t % ch, g = isBatch ? c : t
            let mu = mean[g], inv = invstd[g]
            let k = gammaOf(c) * inv
            let m1 = Float(gdy[g] / count), m2 = Float(gdyx[g] / count)
            let src = pz.value + t * s, out = pdz.value + t * s
            for j in range {
                let xh = (src[j] - mu) * inv
                out[j] = k * (out[j] - m1 - xh * m2)
            }
        }
        return dz
    }
}

/// Pieces each of `slices` slices of `size` elements is cut into so that all workers get work
/// (pieces of at least 32768 elements).
func partsPerSlice(_ slices: Int, _ size: Int) -> Int {
    let want = (2 * Compute.threads + slices - 1) / max(slices, 1)
    return max(1, min(want, size / 32_768))
}

/// Piece `i` of `parts` equal pieces of `0..<size`.
@inline(__always)
func part(_ i: Int, of parts: Int, _ size: Int) -> Range<Int> { (size * i / parts)..<(size * (i + 1) / parts) }
