/// Vectorised reductions of the normalisation and bias passes. Partial sums run in 8 Float lanes
/// over blocks of 256 elements and are accumulated in Double, so that long sums keep the
/// accuracy the MONAI parity tests ask for.

typealias Vec = SIMD8<Float>

@inline(__always) private func load(_ p: UnsafePointer<Float>) -> Vec {
    UnsafeRawPointer(p).loadUnaligned(as: Vec.self)
}
@inline(__always) private func store(_ v: Vec, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec.self)
}

/// Runs `body(start, end)` over `0..<count` in blocks of 256 and sums its results in Double.
@inline(__always)
private func blocked(_ count: Int, _ body: (Int, Int) -> Double) -> Double {
    var total = 0.0, i = 0
    while i < count {
        let e = min(count, i + 256)
        total += body(i, e)
        i = e
    }
    return total
}

/// Sum of `count` floats.
func sumDouble(_ p: UnsafePointer<Float>, _ count: Int) -> Double {
    blocked(count) { i, e in
        var acc = Vec(), j = i
        while j + 8 <= e { acc += load(p + j); j += 8 }
        var r = acc.sum()
        while j < e { r += p[j]; j += 1 }
        return Double(r)
    }
}

/// Sum of `(p[i] - centre)^2`.
func sumSquaredDeviation(_ p: UnsafePointer<Float>, _ count: Int, _ centre: Float) -> Double {
    blocked(count) { i, e in
        var acc = Vec(), j = i
        let c = Vec(repeating: centre)
        while j + 8 <= e { let u = load(p + j) - c; acc += u * u; j += 8 }
        var r = acc.sum()
        while j < e { let u = p[j] - centre; r += u * u; j += 1 }
        return Double(r)
    }
}

/// First backward pass of normalisation + PReLU over one slice: with `xhat = (z - mean) * invstd`
/// and `y = gamma * xhat + beta`, writes `dy = dA * (y > 0 ? 1 : slope)` to `out` and returns
/// `(sum dy, sum dy * xhat, sum over y <= 0 of dA * y)` — the gradients of beta, gamma, slope.
func preluNormBackward(z: UnsafePointer<Float>, dA: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                       count: Int, mean: Float, invstd: Float, gamma: Float, beta: Float,
                       slope: Float) -> (Double, Double, Double) {
    var s1 = 0.0, s2 = 0.0, s3 = 0.0
    let mu = Vec(repeating: mean), inv = Vec(repeating: invstd), g = Vec(repeating: gamma)
    let b = Vec(repeating: beta), sl = Vec(repeating: slope), zero = Vec()
    var i = 0
    while i < count {
        let e = min(count, i + 256)
        var a1 = Vec(), a2 = Vec(), a3 = Vec()
        var j = i
        while j + 8 <= e {
            let xh = (load(z + j) - mu) * inv
            let y = xh * g + b
            let ga = load(dA + j)
            let pos = y .> zero
            let dy = (ga * sl).replacing(with: ga, where: pos)
            a3 += (y * ga).replacing(with: zero, where: pos)
            store(dy, out + j)
            a1 += dy; a2 += dy * xh
            j += 8
        }
        var r1 = a1.sum(), r2 = a2.sum(), r3 = a3.sum()
        while j < e {
            let xh = (z[j] - mean) * invstd
            let y = xh * gamma + beta
            let ga = dA[j]
            let dy = y > 0 ? ga : slope * ga
            if y <= 0 { r3 += y * ga }
            out[j] = dy
            r1 += dy; r2 += dy * xh
            j += 1
        }
        s1 += Double(r1); s2 += Double(r2); s3 += Double(r3)
        i = e
    }
    return (s1, s2, s3)
}
