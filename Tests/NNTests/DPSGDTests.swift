import Foundation
import Tensor
import Testing
@testable import NN

/// The mechanics of patient-level DP-SGD, each against a bound or a distribution fixed here: a patient's
/// contribution is bounded by C, the noise has standard deviation z*C, patients are sampled at rate q, and the
/// steps accounted are the steps taken.
@Suite struct DPSGDTests {
    /// A small U-Net with instance normalisation (no running statistics).
    static func network(seed: UInt64 = 5) -> UNet {
        UNet(UNetConfig(outChannels: 2, channels: [4, 8], strides: [2], numResUnits: 1, norm: .instance), seed: seed)
    }

    /// Trainable ranges of a store.
    static func parameterIndices(_ store: ParameterStore) -> [Int] {
        store.blocks.filter { $0.kind == .parameter }.flatMap { Array($0.range) }
    }

    /// A patient whose gradient is a million times larger than the others' moves the sum by at most C; the
    /// ordinary patients below C pass unchanged.
    @Test func hugeGradientPatientIsBoundedByClip() throws {
        let net = Self.network(), store = net.parameters
        let idx = Self.parameterIndices(store)
        let clip = 0.5
        // q = 1: every patient in every step; z = 1e-12: the noise is far below what is checked.
        let dp = try DPSGD(network: net, patients: 3, settings: .init(clip: clip, noiseMultiplier: 1e-12, sampleRate: 1), samplingSeed: 1)
        var rng = SplitMix64(seed: 42)
        var directions: [[Float]] = []
        for p in 0..<3 {
            var v = [Float](repeating: 0, count: store.count)
            for i in idx { v[i] = rng.nextSymmetricUnit() }
            let n = sqrt(idx.reduce(0.0) { $0 + Double(v[$1] * v[$1]) })
            let target = p == 0 ? 1e6 : 0.1 * Double(p)  // norms 1e6, 0.1, 0.2
            for i in idx { v[i] = Float(Double(v[i]) / n * target) }
            directions.append(v)
        }
        // The real network's gradient for patient 0, scaled up, stands for "all patches of a huge patient".
        var noise = SplitMix64(seed: 7)
        let step = dp.privateGradient(noise: &noise) { p in
            let g = store.gradients.pointer
            for i in idx { g[i] += directions[p][i] }
        }
        #expect(step.sampled == [0, 1, 2])
        #expect(abs(step.norms[0] - 1e6) < 1, "norm before clipping")
        let g = store.flatGradients()
        let divisor = 3.0  // q * patients
        // Sum minus the two small patients' unclipped gradients = the huge patient's clipped contribution.
        var rest = 0.0, along = 0.0
        for i in idx {
            let c = Double(g[i]) * divisor - Double(directions[1][i]) - Double(directions[2][i])
            rest += c * c
            along += c * Double(directions[0][i]) / 1e6
        }
        #expect(rest.squareRoot() <= clip * (1 + 1e-4), "huge patient's contribution \(rest.squareRoot()) exceeds C = \(clip)")
        #expect(rest.squareRoot() >= clip * (1 - 1e-4), "clipping scaled to C, not below")
        #expect(along >= clip * (1 - 1e-4), "clipping keeps the direction")
    }

    /// With zero gradients, what is left is the noise: standard deviation z*C per coordinate (mean 0, 68.27% within
    /// one standard deviation), after undoing the division by q * patients.
    @Test func noiseHasStandardDeviationZTimesC() throws {
        let net = Self.network(), store = net.parameters
        let idx = Self.parameterIndices(store)
        let (z, clip, q, patients) = (1.3, 0.7, 0.25, 8)
        let dp = try DPSGD(network: net, patients: patients, settings: .init(clip: clip, noiseMultiplier: z, sampleRate: q), samplingSeed: 3)
        var noise = SplitMix64(seed: 11)
        var values: [Double] = []
        while values.count < 200_000 {
            dp.privateGradient(noise: &noise) { _ in }
            let g = store.flatGradients()
            for i in idx { values.append(Double(g[i]) * q * Double(patients)) }
        }
        let n = Double(values.count), sigma = z * clip
        let mean = values.reduce(0, +) / n
        let sd = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)).squareRoot()
        let within = Double(values.filter { abs($0) <= sigma }.count) / n
        // Standard errors at n = 200k: mean sigma/447, sd sigma/632, fraction 0.001; tolerances are ~5 of them.
        #expect(abs(mean) < 0.012 * sigma, "mean \(mean)")
        #expect(abs(sd / sigma - 1) < 0.01, "sd \(sd), expected \(sigma)")
        #expect(abs(within - 0.6827) < 0.006, "fraction within one sd \(within)")
    }

    /// Each patient joins each step with probability q, independently: over 400 steps of 250 patients at q = 0.08
    /// the total is Binomial(100000, 0.08) (mean 8000, sd 85.8) and each patient's count Binomial(400, 0.08)
    /// (mean 32, sd 5.4).
    @Test func patientsAreSampledAtRateQ() throws {
        let net = Self.network()
        let dp = try DPSGD(network: net, patients: 250, settings: .init(clip: 1, noiseMultiplier: 1, sampleRate: 0.08), samplingSeed: 19)
        var counts = [Int](repeating: 0, count: 250)
        var sizes: [Int] = []
        for _ in 0..<400 {
            let s = dp.samplePatients()
            sizes.append(s.count)
            for p in s { counts[p] += 1 }
        }
        let total = counts.reduce(0, +)
        #expect(abs(total - 8000) <= 430, "total \(total): more than 5 sd from 8000")
        #expect(counts.allSatisfy { (10...60).contains($0) }, "a patient's count is > 4 sd from 32: \(counts.min()!)...\(counts.max()!)")
        // Step sizes vary (Poisson sampling, not a fixed batch): Binomial(250, 0.08) has sd 4.3.
        let m = Double(sizes.reduce(0, +)) / 400
        let v = sizes.reduce(0.0) { $0 + (Double($1) - m) * (Double($1) - m) } / 399
        #expect(abs(v.squareRoot() - 4.29) < 0.8, "sd of the step size \(v.squareRoot())")
        // Chi-square of the 250 counts against Binomial(400, 0.08): 249 degrees of freedom, 0.999 quantile ~ 334.
        let e = 32.0, varB = 400 * 0.08 * 0.92
        let chi = counts.reduce(0.0) { $0 + (Double($1) - e) * (Double($1) - e) / varB }
        #expect(chi < 334, "chi-square \(chi)")
    }

    /// Training with DP-SGD: the steps taken are the steps the accountant composes, and the gradient the
    /// optimiser sees is what the step left (the network learns nothing it was not told: only the sampled
    /// patients' gradients are computed).
    @Test func stepsAccountedAreStepsTaken() throws {
        let net = Self.network()
        let settings = try DPSGDSettings(clip: 1, noiseMultiplier: 1.1, sampleRate: 0.3)
        let dp = try DPSGD(network: net, patients: 6, settings: settings, samplingSeed: 2)
        let adam = Adam(net.parameters, learningRate: 1e-3)
        var rng = SplitMix64(seed: 4), noise = SplitMix64(seed: 9)
        let x = Tensor(shape: [1, 1, 8, 8, 8], scalars: (0..<512).map { _ in rng.nextUnit() })
        let y = Tensor(shape: [1, 1, 8, 8, 8], scalars: (0..<512).map { _ in Float(rng.next() % 2) })
        var computed = 0
        let epochs = 2
        for _ in 0..<(epochs * settings.stepsPerEpoch) {
            dp.privateGradient(noise: &noise) { _ in computed += 1; net.lossAndGradients(input: x, labels: y) }
            adam.step()
        }
        #expect(settings.stepsPerEpoch == 4)
        #expect(dp.stepsTaken == 8 && adam.stepCount == 8)
        let expected = try PrivacyAccount().composing(settings.mechanism, steps: 8)
        #expect(dp.account == expected)
        #expect(computed > 0 && computed < 8 * 6, "only sampled patients are computed (\(computed))")
    }

    /// Batch normalisation's running statistics are not private: DP-SGD refuses such a network.
    @Test func refusesBatchNormalisation() throws {
        let bn = UNet(UNetConfig(outChannels: 2, channels: [4, 8], strides: [2], numResUnits: 1, norm: .batch))
        let s = try DPSGDSettings(clip: 1, noiseMultiplier: 1, sampleRate: 0.5)
        #expect {
            try DPSGD(network: bn, patients: 4, settings: s, samplingSeed: 0)
        } throws: { e in
            if case .batchNormalisation = e as? PrivacyError { return true } else { return false }
        }
        #expect(throws: PrivacyError.outOfRange(name: "clip norm", value: 0, allowed: "greater than 0")) {
            try DPSGDSettings(clip: 0, noiseMultiplier: 1, sampleRate: 0.5)
        }
    }

    /// Scans of one patient are one unit; cases without an id are their own.
    @Test func patientGroups() {
        let g = PatientGroups(patientIDs: ["a", nil, "b", "a", nil, "b", "c"])
        #expect(g.count == 5)
        #expect(g.cases == [[0, 3], [1], [2, 5], [4], [6]])
        #expect(g.patientOfCase == [0, 1, 2, 0, 3, 2, 4])
    }
}
