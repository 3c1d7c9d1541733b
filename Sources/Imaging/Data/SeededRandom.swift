import NN

/// A small, fast, seedable random number generator (NN's SplitMix64 with per-stream seeding), so every
/// random choice in preprocessing, patch sampling, augmentation and phantom generation is reproducible
/// from a seed.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var core: SplitMix64

    /// A generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) { core = SplitMix64(seed: seed) }

    /// A generator derived from this seed and a stream number (for per-case or per-worker streams).
    public init(seed: UInt64, stream: UInt64) {
        var g = SplitMix64(seed: seed ^ (stream &* 0x9E37_79B9_7F4A_7C15))
        core = SplitMix64(seed: g.next() ^ stream)
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 { core.next() }

    /// A uniform value in `range`.
    public mutating func uniform(_ range: ClosedRange<Double>) -> Double { Double.random(in: range, using: &self) }

    /// A standard normal value (Box-Muller).
    public mutating func gaussian() -> Double {
        let u1 = Double.random(in: Double.leastNonzeroMagnitude..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }
}

import Foundation
@inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }
