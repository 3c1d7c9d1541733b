import Imaging
import NN
import SecureAggregation
import Tensor

/// Patient-level DP-SGD for a site's local training (``SiteTraining/privacy``): the same objective, teacher and
/// learning-rate schedule as the plain loop, but each step is ``NN/DPSGD``'s: Poisson-sampled patients, each
/// patient's gradient (patches of all its cases) clipped, Gaussian noise on the sum. A local epoch is
/// `ceil(1 / q)` steps (``NN/DPSGDSettings/stepsPerEpoch``), so the steps taken in a round are exactly
/// ``SiteTraining/privateSteps(epochs:)``, what the node's accountant charges.
extension SiteTraining {
    /// The steps a round of `epochs` takes under privacy, per trained network (nil without privacy).
    public func privateSteps(epochs: Int) -> Int? { privacy.map { epochs * $0.stepsPerEpoch } }

    /// The patients of the training set (``Imaging/TrainingSet/Item/patient``; a case without one is its own).
    public var patients: PatientGroups { PatientGroups(patientIDs: set.items.map(\.patient)) }

    func runPrivate(net: UNet, key: String, objective: SiteObjective, teacher: UNet?, hard: Bool, sampler: PatchSampler,
                    epochs: Int, round: Int, position: Int, relabel: Float?, optimiser: inout OptimiserState,
                    settings: DPSGDSettings, epochDone: (EpochStats) -> Void) -> (loss: Float, steps: Int) {
        let groups = patients
        let dp: DPSGD
        var streams = SplitMix64(seed: seed, stream: UInt64(round) &* 0x1_0000 &+ 0xD9)
        do {
            dp = try DPSGD(network: net, patients: groups.count, settings: settings, samplingSeed: streams.next())
        } catch {
            // SiteTrainer and the federation file's validator refuse batch normalisation with privacy first.
            preconditionFailure("SiteTraining: \(error)")
        }
        var noise = PrivacyNoise(seed: noiseSeed.map { $0 ^ UInt64(round) &* 0x9E37_79B9_7F4A_7C15 })
        let adam = Adam(net.parameters, learningRate: recipe.learningRate)
        if recipe.keepOptimiserState, let s = optimiser.networks[key], s.m.count == net.parameters.count { adam.load(s) }
        let stepsPerRound = epochs * settings.stepsPerEpoch
        var step = 0
        var mean: Float = 0
        for e in 0..<epochs {
            var rng = SeededRandom(seed: seed, stream: UInt64(round * 10_000 + e))
            var total: Float = 0, norms: Double = 0, largest: Double = 0, patientsSeen = 0
            for _ in 0..<settings.stepsPerEpoch {
                adam.learningRate = recipe.learningRate(completedRounds: position, step: step, stepsPerRound: stepsPerRound)
                let result = dp.privateGradient(noise: &noise) { patient in
                    for index in groups.cases[patient] {
                        let b = set.patches(of: index, sampler: sampler, count: patchesPerVolume, using: &rng)
                        let (labels, teacherLogits) = targets(input: b.input, labels: b.labels, relabel: relabel, teacher: teacher,
                                                              hard: hard)
                        total += net.lossAndGradients(input: b.input, labels: labels, objective: objective, teacher: teacherLogits)
                        patientsSeen += 1
                    }
                }
                adam.step()
                for n in result.norms { norms += n; largest = max(largest, n) }
                step += 1
            }
            mean = total / Float(max(patientsSeen, 1))
            epochDone(EpochStats(epoch: e, meanLoss: mean, meanGradientNorm: Float(norms / Double(max(patientsSeen, 1))),
                                 maxGradientNorm: Float(largest), learningRate: adam.learningRate, privateSteps: dp.stepsTaken))
        }
        if recipe.keepOptimiserState { optimiser.networks[key] = adam.state }
        return (mean, dp.stepsTaken)
    }
}

/// The Gaussian noise source of DP-SGD: the operating system's CSPRNG (libsodium's `randombytes_buf`), read
/// 64 KiB at a time; seeded (SplitMix64) only when a test or the experiment asks for reproducibility.
struct PrivacyNoise: RandomNumberGenerator {
    private var seeded: SplitMix64?
    private var buffer: [UInt8] = []
    private var at = 0

    init(seed: UInt64?) { seeded = seed.map { SplitMix64(seed: $0) } }

    mutating func next() -> UInt64 {
        if var s = seeded {
            let v = s.next()
            seeded = s
            return v
        }
        if at + 8 > buffer.count { buffer = SecureRandom.bytes(65_536); at = 0 }
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(buffer[at + k]) << (8 * k) }
        at += 8
        return v
    }
}
