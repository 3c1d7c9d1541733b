import Foundation

/// Log-space arithmetic for the privacy accountant: sums and differences of values held as logarithms, the
/// logarithm of `erfc` far into its tail, and binomial coefficients of a real upper argument (Mironov, Talwar,
/// Zhang 2019 need all three for fractional Rényi orders).
enum LogMath {
    /// `log(exp(a) + exp(b))` without overflow; `-inf` is the logarithm of zero.
    static func add(_ a: Double, _ b: Double) -> Double {
        let (hi, lo) = a >= b ? (a, b) : (b, a)
        if lo == -.infinity { return hi }
        return hi + Foundation.log1p(Foundation.exp(lo - hi))
    }

    /// `log(exp(a) - exp(b))` for `a >= b`: `-inf` when they are equal; `nil` when `a < b` (a negative result
    /// has no logarithm).
    static func subtract(_ a: Double, _ b: Double) -> Double? {
        if b == -.infinity { return a }
        if a < b { return nil }
        if a == b { return -.infinity }
        let d = a - b
        // expm1 overflows past ~709: then log(exp(d) - 1) = d to double precision.
        return d > 700 ? a : Foundation.log(Foundation.expm1(d)) + b
    }

    /// `log(erfc(x))`, accurate where `erfc(x)` underflows (x beyond ~26): the asymptotic series
    /// `erfc(x) = exp(-x^2) / (x sqrt(pi)) * (1 - 1/(2x^2) + 3/(4x^4) - 15/(8x^6) + 105/(16x^8))`.
    static func logErfc(_ x: Double) -> Double {
        if x < 10 { return Foundation.log(Foundation.erfc(x)) }
        let t = 1 / (2 * x * x)
        // Terms (2k-1)!! * (-t)^k: 1, -t, 3t^2, -15t^3, 105t^4, -945t^5.
        let series = 1 - t + 3 * t * t - 15 * t * t * t + 105 * t * t * t * t - 945 * t * t * t * t * t
        return -x * x - Foundation.log(x) - 0.5 * Foundation.log(Double.pi) + Foundation.log(series)
    }

    /// `log|C(alpha, i)|` and the sign of `C(alpha, i) = Gamma(alpha+1) / (Gamma(i+1) Gamma(alpha-i+1))` for a real
    /// `alpha > 0` and an integer `i >= 0`. The sign is that of `Gamma(alpha-i+1)` (negative on (-1,0), (-3,-2)...);
    /// zero when `alpha` is an integer below `i` (sign 0, logarithm `-inf`).
    static func logBinomial(_ alpha: Double, _ i: Int) -> (log: Double, sign: Int) {
        let x = alpha - Double(i) + 1
        if x <= 0, x == x.rounded() { return (-.infinity, 0) }
        let sign = x > 0 ? 1 : (Int((-x).rounded(.up)) % 2 == 1 ? -1 : 1)
        let l = Foundation.lgamma(alpha + 1) - Foundation.lgamma(Double(i) + 1) - Foundation.lgamma(x)
        return (l, sign)
    }
}
