import Foundation

/// The one seeded generator of SegViz (SplitMix64, Steele et al. 2014): weight initialisation, synthetic
/// data, patch sampling, augmentation, phantoms and benchmarks all draw from it, so every random choice is
/// reproducible from a seed. (Imaging calls it `SeededRandom`; the secure-aggregation protocol's randomness is
/// its own `RandomSource`.)
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator starting from `seed`.
    public init(seed: UInt64) { state = seed }

    /// A generator derived from `seed` and a stream number (for per-case or per-worker streams).
    public init(seed: UInt64, stream: UInt64) {
        var g = SplitMix64(seed: seed ^ (stream &* 0x9E37_79B9_7F4A_7C15))
        self.init(seed: g.next() ^ stream)
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    public mutating func nextUnit() -> Float { Float(next() >> 40) / Float(1 << 24) }

    /// Uniform in `[-1, 1)` (53 random bits, then rounded to Float).
    public mutating func nextSymmetricUnit() -> Float { Float(Double(next() >> 11) / Double(1 << 52) - 1) }

    /// A uniform value in `range`.
    public mutating func uniform(_ range: ClosedRange<Double>) -> Double { Double.random(in: range, using: &self) }

    /// A standard normal value (Box-Muller).
    public mutating func gaussian() -> Double {
        let u1 = Double.random(in: Double.leastNonzeroMagnitude..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }
}
