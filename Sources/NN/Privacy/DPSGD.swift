import Foundation
import Tensor

/// The three numbers of patient-level DP-SGD: the clip norm `C` of each patient's gradient, the noise multiplier
/// `z` (noise standard deviation `z * C` on the sum of clipped gradients) and the Poisson sampling rate `q` of
/// patients per step.
public struct DPSGDSettings: Sendable, Hashable, Codable {
    /// L2 norm bound of one patient's gradient in one step (C > 0).
    public let clip: Double
    /// Noise standard deviation divided by the clip norm (z > 0).
    public let noiseMultiplier: Double
    /// Probability that a patient takes part in a step (0 < q <= 1).
    public let sampleRate: Double

    /// Settings, each checked.
    public init(clip: Double, noiseMultiplier: Double, sampleRate: Double) throws(PrivacyError) {
        guard clip.isFinite, clip > 0 else { throw .outOfRange(name: "clip norm", value: clip, allowed: "greater than 0") }
        guard sampleRate > 0 else { throw .outOfRange(name: "sample rate", value: sampleRate, allowed: "0 < q <= 1") }
        _ = try SubsampledGaussian(sampleRate: sampleRate, noiseMultiplier: noiseMultiplier)
        self.clip = clip; self.noiseMultiplier = noiseMultiplier; self.sampleRate = sampleRate
    }

    /// The mechanism one step applies (what the accountant composes).
    public var mechanism: SubsampledGaussian {
        // The initialiser checked both values.
        (try? SubsampledGaussian(sampleRate: sampleRate, noiseMultiplier: noiseMultiplier))
            ?? { preconditionFailure("DPSGDSettings: unchecked values") }()
    }

    /// Steps in one local epoch: `ceil(1 / q)`, an expected single pass over the patients that depends on `q` alone
    /// (never on how many patients a site has).
    public var stepsPerEpoch: Int { Int((1 / sampleRate).rounded(.up)) }
}

/// What one private step did (for tests and logs; none of it leaves the node).
public struct DPSGDStep: Sendable {
    /// The patients Poisson sampling chose, ascending.
    public let sampled: [Int]
    /// Each sampled patient's gradient norm before clipping.
    public let norms: [Double]
}

/// Patient-level DP-SGD over a ``ParameterStore`` (Abadi et al. 2016, with the patient as the unit, as in
/// Opacus's Poisson-sampled mode): each step samples every patient independently with probability `q`, lets the
/// caller compute each sampled patient's gradient (all the patient's patches), clips it to L2 norm `C` over the
/// trainable parameters, sums the clipped gradients, adds Gaussian noise of standard deviation `z * C` to each
/// coordinate of the sum, and leaves the sum divided by the expected number of patients per step (`q * patients`,
/// data-independent) in the store's gradients for the optimiser. A step with no patient sampled is still a step
/// (pure noise), as the accountant assumes. Buffers (batch-norm running statistics) are refused: they would
/// carry unclipped, un-noised data.
public final class DPSGD {
    /// Clip, noise multiplier and sampling rate.
    public let settings: DPSGDSettings
    /// The number of privacy units (patients) in the training set.
    public let patientCount: Int
    /// Private steps taken so far: the steps the accountant composes (``account``).
    public private(set) var stepsTaken = 0
    private let store: ParameterStore
    private var sampling: SplitMix64
    private let sum: FloatBuffer
    private let ranges: [Range<Int>]

    /// DP-SGD for `store` over `patients` patients; `samplingSeed` seeds the Poisson sampling of patients.
    /// Refuses a store with buffers (running statistics of batch normalisation).
    public init(store: ParameterStore, patients: Int, settings: DPSGDSettings, samplingSeed: UInt64) throws(PrivacyError) {
        if let b = store.blocks.first(where: { $0.kind == .buffer }) { throw .batchNormalisation(layer: b.name) }
        guard patients > 0 else { throw .outOfRange(name: "patient count", value: Double(patients), allowed: "1 or more") }
        self.store = store
        self.settings = settings
        patientCount = patients
        sampling = SplitMix64(seed: samplingSeed)
        sum = FloatBuffer(count: store.count, zeroed: true)
        var r: [Range<Int>] = []
        for b in store.blocks where b.kind == .parameter {
            if let last = r.last, last.upperBound == b.offset { r[r.count - 1] = last.lowerBound..<b.range.upperBound } else { r.append(b.range) }
        }
        ranges = r
    }

    /// DP-SGD for `network`'s parameters; refuses batch normalisation (naming the first such layer).
    public convenience init(network: UNet, patients: Int, settings: DPSGDSettings, samplingSeed: UInt64) throws(PrivacyError) {
        if network.config.norm == .batch {
            let layer = network.parameters.blocks.first { $0.kind == .buffer }?.name ?? "the network's normalisation"
            throw .batchNormalisation(layer: layer)
        }
        try self.init(store: network.parameters, patients: patients, settings: settings, samplingSeed: samplingSeed)
    }

    /// The privacy spent by the steps taken so far.
    public var account: PrivacyAccount {
        (try? PrivacyAccount().composing(settings.mechanism, steps: stepsTaken)) ?? PrivacyAccount()
    }

    /// One Poisson sample: each patient in `0..<patientCount` independently with probability `q`, ascending.
    public func samplePatients() -> [Int] {
        var out: [Int] = []
        for p in 0..<patientCount where sampling.nextDouble() < settings.sampleRate { out.append(p) }
        return out
    }

    /// One private step's gradient. For each patient of a fresh Poisson sample, the store's gradients are zeroed
    /// and `gradient(patient)` adds that patient's gradient into them; it is clipped and summed. The noise comes
    /// from `noise` (a cryptographic generator outside tests). Afterwards the store's gradients hold
    /// `(sum of clipped + N(0, (z C)^2)) / (q * patientCount)`; the caller's optimiser steps on them.
    @discardableResult
    public func privateGradient<G: RandomNumberGenerator>(noise: inout G, _ gradient: (Int) throws -> Void) rethrows -> DPSGDStep {
        let sampled = samplePatients()
        sum.zero()
        var norms: [Double] = []
        for p in sampled {
            store.zeroGradients()
            try gradient(p)
            let norm = parameterNorm()
            norms.append(norm)
            let scale = Float(min(1, settings.clip / max(norm, .leastNonzeroMagnitude)))
            let g = store.gradients.pointer, s = sum.pointer
            for r in ranges { for i in r { s[i] += scale * g[i] } }
        }
        let sigma = settings.noiseMultiplier * settings.clip
        let divisor = Float(settings.sampleRate * Double(patientCount))
        let g = store.gradients.pointer, s = sum.pointer
        store.zeroGradients()
        var pending: Double? = nil
        for r in ranges {
            for i in r {
                let n: Double
                if let p = pending { n = p; pending = nil } else {
                    let (a, b) = Self.gaussianPair(&noise); n = a; pending = b
                }
                g[i] = (s[i] + Float(n * sigma)) / divisor
            }
        }
        stepsTaken += 1
        return DPSGDStep(sampled: sampled, norms: norms)
    }

    /// The L2 norm of the store's gradients over the trainable parameters (accumulated in Double).
    private func parameterNorm() -> Double {
        let g = store.gradients.pointer
        var total = 0.0
        for r in ranges { for i in r { let v = Double(g[i]); total += v * v } }
        return total.squareRoot()
    }

    /// Two independent standard normal values (Box-Muller on 53-bit uniforms; the first uniform is never zero).
    static func gaussianPair<G: RandomNumberGenerator>(_ rng: inout G) -> (Double, Double) {
        let u1 = Double(rng.next() >> 11 | 1) * 0x1p-53, u2 = Double(rng.next() >> 11) * 0x1p-53
        let r = (-2 * Foundation.log(u1)).squareRoot(), t = 2 * Double.pi * u2
        return (r * Foundation.cos(t), r * Foundation.sin(t))
    }
}

extension SplitMix64 {
    /// Uniform in `[0, 1)` with 53 random bits.
    mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }
}
