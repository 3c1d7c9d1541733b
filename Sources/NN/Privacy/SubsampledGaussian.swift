import Foundation

/// The Rényi differential privacy of one step of the Poisson-subsampled Gaussian mechanism: each unit (here a
/// patient) joins the step independently with probability `q`, the sum of the clipped contributions gets Gaussian
/// noise of standard deviation `z` times the clip norm (Mironov, Talwar, Zhang 2019, "Rényi Differential Privacy of
/// the Sampled Gaussian Mechanism", section 3.3: integer orders exactly, fractional orders by the two-sided series).
public struct SubsampledGaussian: Sendable, Hashable, Codable {
    /// Probability that a unit takes part in a step (0...1).
    public let sampleRate: Double
    /// Noise standard deviation divided by the clip norm (> 0).
    public let noiseMultiplier: Double

    /// The mechanism with sampling rate `sampleRate` and noise multiplier `noiseMultiplier`.
    public init(sampleRate: Double, noiseMultiplier: Double) throws(PrivacyError) {
        guard sampleRate.isFinite, sampleRate >= 0, sampleRate <= 1 else { throw .outOfRange(name: "sample rate", value: sampleRate, allowed: "0...1") }
        guard noiseMultiplier.isFinite, noiseMultiplier > 0 else {
            throw .outOfRange(name: "noise multiplier", value: noiseMultiplier, allowed: "greater than 0")
        }
        self.sampleRate = sampleRate
        self.noiseMultiplier = noiseMultiplier
    }

    /// The RDP epsilon of one step at Rényi order `alpha > 1` (`+inf` for an infinite order).
    public func rdp(order alpha: Double) -> Double {
        let q = sampleRate, sigma = noiseMultiplier
        if alpha.isInfinite { return .infinity }
        if q == 0 { return 0 }
        if q == 1 { return alpha / (2 * sigma * sigma) }
        let logA = alpha == alpha.rounded() ? logAInteger(Int(alpha)) : logAFractional(alpha)
        return logA / (alpha - 1)
    }

    /// `log A_alpha` for an integer order: `A = sum_i C(alpha,i) (1-q)^(alpha-i) q^i exp((i^2 - i) / (2 sigma^2))`.
    private func logAInteger(_ alpha: Int) -> Double {
        let q = sampleRate, s2 = noiseMultiplier * noiseMultiplier
        let lq = Foundation.log(q), l1q = Foundation.log1p(-q)
        var logA = -Double.infinity
        for i in 0...alpha {
            let c = LogMath.logBinomial(Double(alpha), i).log + Double(i) * lq + Double(alpha - i) * l1q
            logA = LogMath.add(logA, c + Double(i * i - i) / (2 * s2))
        }
        return logA
    }

    /// `log A_alpha` for a fractional order: the two series split at `z0 = sigma^2 log(1/q - 1) + 1/2`, summed until
    /// both terms fall below `exp(-30)`.
    private func logAFractional(_ alpha: Double) -> Double {
        let q = sampleRate, sigma = noiseMultiplier, s2 = sigma * sigma
        let lq = Foundation.log(q), l1q = Foundation.log1p(-q)
        let z0 = s2 * Foundation.log(1 / q - 1) + 0.5
        var a0 = -Double.infinity, a1 = -Double.infinity
        var i = 0
        while true {
            let (lc, sign) = LogMath.logBinomial(alpha, i)
            let fi = Double(i), j = alpha - fi
            let t0 = lc + fi * lq + j * l1q
            let t1 = lc + j * lq + fi * l1q
            let e0 = Foundation.log(0.5) + LogMath.logErfc((fi - z0) / (2.0.squareRoot() * sigma))
            let e1 = Foundation.log(0.5) + LogMath.logErfc((z0 - j) / (2.0.squareRoot() * sigma))
            let s0 = t0 + (fi * fi - fi) / (2 * s2) + e0
            let s1 = t1 + (j * j - j) / (2 * s2) + e1
            if sign > 0 {
                a0 = LogMath.add(a0, s0); a1 = LogMath.add(a1, s1)
            } else if sign < 0 {
                // The alternating tail never exceeds the sum so far; a rounding excess leaves it at zero.
                a0 = LogMath.subtract(a0, s0) ?? -.infinity
                a1 = LogMath.subtract(a1, s1) ?? -.infinity
            }
            i += 1
            if max(s0, s1) < -30 { break }
            // Not converging (e.g. q near 1/2 at low orders): no bound from this order, as dp_accounting does.
            if i >= 1000 { return .infinity }
        }
        return LogMath.add(a0, a1)
    }
}
