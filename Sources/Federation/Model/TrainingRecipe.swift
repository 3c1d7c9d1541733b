import Foundation
import Imaging
import NN

/// How a site trains locally in every round: the loss (marginal Dice-CE, ConDistFL distillation, the exclusion
/// loss), the learning-rate schedule across rounds, gradient clipping, and whether the optimiser's state carries
/// over between rounds. One recipe, read from the federation file, is what `segviz node`, `segviz demo` and
/// `segviz experiment` train with.
public struct TrainingRecipe: Sendable, Equatable {
    /// What the round's global model teaches a site about the organs it does not annotate.
    public enum Distillation: String, Sendable, Codable, CaseIterable {
        /// ConDistFL: soft, conditional, masked, Dice (``NN/ConditionalDistillation``).
        case soft
        /// The teacher's argmax fills the site's background labels with organs it does not annotate; full Dice-CE.
        case hard
        /// The marginal loss alone.
        case none
    }

    /// Adam's rate at the first step.
    public var learningRate: Float
    /// The schedule over every local step of every round.
    public var schedule: LearningRateSchedule
    /// The cosine schedule's final rate.
    public var finalLearningRate: Float
    /// Gradient L2 norm clip; nil: none.
    public var gradientClipNorm: Float?
    /// Distillation mode.
    public var distillation: Distillation
    /// Soft distillation's temperature.
    public var temperature: Double
    /// Soft distillation's weight at the first and at the last round.
    public var distillationWeight: (first: Double, last: Double)
    /// Exclusion loss weight (0: off).
    public var exclusionWeight: Double
    /// Whether Adam's moments and step count carry over from round to round (kept at the node, never sent).
    public var keepOptimiserState: Bool
    /// Rounds of the whole training (the schedule's and the weight ramp's length).
    public var rounds: Int
    /// Training-time augmentation of every patch (rotation, scaling, elastic, intensity, left-right mirroring).
    public var augmentation: Augmentation
    /// Probability of flipping a patch along each voxel axis in turn (MONAI's `RandFlipd` on each axis, as the
    /// spleen tutorial's 0.1). The recipe's default is 0: a flip along the body axis or front to back shows anatomy
    /// no scan has, and the small network then learns the organs' places more slowly (left-right is
    /// ``Imaging/Augmentation/mirrorLeftRight``'s choice).
    public var axisFlip: Double
    /// Share of a case's patches centred on a voxel of an organ the site annotates; the rest centre on random
    /// voxels inside the body (MONAI's `RandCropByPosNegLabeld` with pos / (pos + neg) = this; nnU-Net forces a
    /// third). Background patches are where a site learns what is not its organ: the heart, the bowel, the stomach.
    public var positiveFraction: Double

    /// A recipe with every field given.
    public init(learningRate: Float, schedule: LearningRateSchedule, finalLearningRate: Float, gradientClipNorm: Float?,
                distillation: Distillation, temperature: Double, distillationWeight: (first: Double, last: Double),
                exclusionWeight: Double, keepOptimiserState: Bool, rounds: Int, augmentation: Augmentation = .standard,
                axisFlip: Double = 0, positiveFraction: Double = 0.5) {
        self.learningRate = learningRate
        self.schedule = schedule
        self.finalLearningRate = finalLearningRate
        self.gradientClipNorm = gradientClipNorm
        self.distillation = distillation
        self.temperature = temperature
        self.distillationWeight = distillationWeight
        self.exclusionWeight = exclusionWeight
        self.keepOptimiserState = keepOptimiserState
        self.rounds = max(1, rounds)
        self.augmentation = augmentation
        self.axisFlip = axisFlip
        self.positiveFraction = positiveFraction
    }

    /// The federation's recipe (its `training` settings and round count).
    public init(federation f: FederationFile) throws {
        let t = f.training
        guard let schedule = LearningRateSchedule(rawValue: t.learningRateSchedule) else {
            throw FederationError.invalidField(field: "training.learningRateSchedule", value: "'\(t.learningRateSchedule)'", expected: "cosine or constant")
        }
        guard let distillation = Distillation(rawValue: t.distillation) else {
            throw FederationError.invalidField(field: "training.distillation", value: "'\(t.distillation)'", expected: "soft, hard or none")
        }
        guard (0...1).contains(t.spatialAugmentation) else {
            throw FederationError.invalidField(field: "training.spatialAugmentation", value: "\(t.spatialAugmentation)", expected: "a probability in 0...1")
        }
        guard (0...1).contains(t.mirrorLeftRight) else {
            throw FederationError.invalidField(field: "training.mirrorLeftRight", value: "\(t.mirrorLeftRight)", expected: "a probability in 0...1")
        }
        guard (0...1).contains(t.axisFlip) else {
            throw FederationError.invalidField(field: "training.axisFlip", value: "\(t.axisFlip)", expected: "a probability in 0...1")
        }
        guard (0...1).contains(t.positiveFraction) else {
            throw FederationError.invalidField(field: "training.positiveFraction", value: "\(t.positiveFraction)", expected: "a share in 0...1")
        }
        guard t.distillationWeight.count == 2 else {
            throw FederationError.invalidField(field: "training.distillationWeight", value: "\(t.distillationWeight)", expected: "two numbers (first and last round)")
        }
        self.init(learningRate: Float(t.learningRate), schedule: schedule, finalLearningRate: Float(t.finalLearningRate),
                  gradientClipNorm: t.gradientClipNorm > 0 ? Float(t.gradientClipNorm) : nil, distillation: distillation,
                  temperature: t.distillationTemperature, distillationWeight: (t.distillationWeight[0], t.distillationWeight[1]),
                  exclusionWeight: t.exclusionWeight, keepOptimiserState: true, rounds: f.rounds,
                  augmentation: Augmentation(spatialProbability: t.spatialAugmentation, mirrorLeftRight: t.mirrorLeftRight),
                  axisFlip: t.axisFlip, positiveFraction: t.positiveFraction)
    }

    /// The recipe's defaults (the federation file's, `FederationSchema`, and the experiment's): cosine from the
    /// rate to 2e-5, gradient norm clipped to 1, the marginal loss without distillation (soft distillation's
    /// settings, temperature 2 and weight 0.01 to 1 as ConDistFL, apply when a federation chooses it), no
    /// exclusion loss, Adam's state kept.
    ///
    /// Distillation is off by default because, over the 8-20 rounds of these federations, ConDistFL's ramp
    /// (tuned for 120 rounds) reaches a weight that matters before the global model knows the organs a node
    /// does not annotate, and the teacher then teaches "no spleen" on the spleen in the liver sites' scans:
    /// the four-site demo's held-out score was 0.896 with it and 0.901 without, and with one spleen site of
    /// three (the experiment) the spleen stayed at 0.03 with it and reached 0.80 without.
    public static func standard(learningRate: Float, rounds: Int) -> TrainingRecipe {
        var r = defaults
        r.learningRate = learningRate
        r.rounds = max(1, rounds)
        return r
    }

    /// ``standard(learningRate:rounds:)``'s fields at rate 2e-3 over one round (the schema's defaults come from here).
    public static let defaults = TrainingRecipe(learningRate: 2e-3, schedule: .cosine, finalLearningRate: 2e-5, gradientClipNorm: 1,
                       distillation: .none, temperature: 2, distillationWeight: (0.01, 1), exclusionWeight: 0,
                       keepOptimiserState: true, rounds: 1)

    /// The setup before this recipe: a fresh Adam at a constant rate every round, no clipping, the marginal loss
    /// alone, patches flipped along each axis with probability 0.1 (MONAI's spleen tutorial).
    public static func plain(learningRate: Float, rounds: Int) -> TrainingRecipe {
        TrainingRecipe(learningRate: learningRate, schedule: .constant, finalLearningRate: learningRate, gradientClipNorm: nil,
                       distillation: .none, temperature: 2, distillationWeight: (0, 0), exclusionWeight: 0,
                       keepOptimiserState: false, rounds: rounds, axisFlip: 0.1)
    }

    /// Soft distillation's weight in the round that starts after `completedRounds` completed rounds: linear from
    /// the first weight (0 completed) to the last (`rounds - 1` completed), as ConDistFL's schedule.
    public func distillationWeight(completedRounds: Int) -> Double {
        guard rounds > 1 else { return distillationWeight.last }
        let x = min(1, max(0, Double(completedRounds) / Double(rounds - 1)))
        return distillationWeight.first + (distillationWeight.last - distillationWeight.first) * x
    }

    /// The rate at local step `step` of the round after `completedRounds`, each round having `stepsPerRound` steps.
    public func learningRate(completedRounds: Int, step: Int, stepsPerRound: Int) -> Float {
        schedule.rate(base: learningRate, minimum: finalLearningRate, step: completedRounds * stepsPerRound + step,
                      totalSteps: rounds * stepsPerRound)
    }

    public static func == (a: TrainingRecipe, b: TrainingRecipe) -> Bool {
        a.learningRate == b.learningRate && a.schedule == b.schedule && a.finalLearningRate == b.finalLearningRate
            && a.gradientClipNorm == b.gradientClipNorm && a.distillation == b.distillation && a.temperature == b.temperature
            && a.distillationWeight == b.distillationWeight && a.exclusionWeight == b.exclusionWeight
            && a.keepOptimiserState == b.keepOptimiserState && a.rounds == b.rounds && a.augmentation == b.augmentation
            && a.axisFlip == b.axisFlip && a.positiveFraction == b.positiveFraction
    }
}
