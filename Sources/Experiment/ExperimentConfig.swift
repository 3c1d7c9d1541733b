import Federation
import Imaging
import Foundation
import NN

/// What `segviz experiment` runs: the phantom sites and external set, the network, the training budget and
/// which setups to compare. A JSON file names only the fields it changes; the rest come from the preset
/// (``standard`` or ``quick``). Unknown fields are refused, so a typo cannot silently fall back to a default.
public struct ExperimentConfig: Codable, Equatable, Sendable {
    /// One training site: a phantom data set in MSD layout annotating one organ.
    public struct Site: Codable, Equatable, Sendable {
        /// Site id (folder and report name).
        public var id: String
        /// The organ its labels annotate: `liver` or `spleen`.
        public var organ: String
        /// Labelled training cases.
        public var cases: Int
        /// Phantom seed (case `n` depends only on it and `n`).
        public var seed: UInt64
    }
    /// The BTCV-style external test set (every organ labelled).
    public struct External: Codable, Equatable, Sendable {
        /// Labelled cases.
        public var cases: Int
        /// Phantom seed.
        public var seed: UInt64
    }
    /// Phantom volumes.
    public struct Phantom: Codable, Equatable, Sendable {
        /// Voxels along i, j, k.
        public var size: [Int]
        /// Isotropic voxel size in mm (also the training spacing).
        public var spacing: Double
    }
    /// The MONAI U-Net every setup trains.
    public struct Network: Codable, Equatable, Sendable {
        /// Channels per level (strides are 2 between levels).
        public var channels: [Int]
        /// Residual units per level.
        public var numResUnits: Int
        /// `instance` (MONAI's default) or `batch`. The FedBN setup always uses batch norm, which it is defined on.
        public var norm: String
    }
    /// The training budget shared by every setup.
    public struct Training: Codable, Equatable, Sendable {
        /// Federated rounds (baselines and the centralised model are evaluated after the same number of epochs).
        public var rounds: Int
        /// Local epochs per round (the paper: 10).
        public var localEpochs: Int
        /// Patch size in voxels along (i, j, k) of the RAS grid (the tensor's D, H, W, as MONAI).
        public var patch: [Int]
        /// Patches per volume per epoch.
        public var patchesPerVolume: Int
        /// Adam learning rate.
        public var learningRate: Double
        /// Base seed; seed repeat `s` uses `seed + s`.
        public var seed: UInt64
        /// HU window mapped to 0...1.
        public var window: [Double]
    }

    /// The shipped training recipe's settings (`Federation.TrainingRecipe`) for the `recipe` setups; the
    /// defaults are the federation file's. The learning rate and rounds come from ``Training``.
    public struct Recipe: Codable, Equatable, Sendable {
        /// `cosine` or `constant`.
        public var learningRateSchedule: String
        /// The cosine schedule's final rate.
        public var finalLearningRate: Double
        /// Gradient L2 norm clip (0: none).
        public var gradientClipNorm: Double
        /// `soft`, `hard` or `none`.
        public var distillation: String
        /// Soft distillation's temperature.
        public var distillationTemperature: Double
        /// Soft distillation's weight at the first and last round.
        public var distillationWeight: [Double]
        /// Exclusion loss weight (0: off).
        public var exclusionWeight: Double
        /// Whether each site's Adam state carries over between rounds.
        public var keepOptimiserState: Bool
        /// Probability of flipping a patch along each voxel axis (the federation file's `training.axisFlip`).
        public var axisFlip: Double
        /// Share of patches centred on an annotated organ (the federation file's `training.positiveFraction`).
        public var positiveFraction: Double
        /// Probability of rotating, scaling and deforming a patch (`training.spatialAugmentation`).
        public var spatialAugmentation: Double
        /// Probability of mirroring a patch left-right (`training.mirrorLeftRight`).
        public var mirrorLeftRight: Double

        /// The federation file's defaults.
        public static var defaults: Recipe {
            let d = TrainingRecipe.defaults
            return Recipe(learningRateSchedule: d.schedule.rawValue, finalLearningRate: Double("\(d.finalLearningRate)") ?? 0,
                          gradientClipNorm: Double(d.gradientClipNorm ?? 0), distillation: d.distillation.rawValue,
                          distillationTemperature: d.temperature,
                          distillationWeight: [d.distillationWeight.first, d.distillationWeight.last],
                          exclusionWeight: d.exclusionWeight, keepOptimiserState: d.keepOptimiserState, axisFlip: d.axisFlip,
                          positiveFraction: d.positiveFraction, spatialAugmentation: d.augmentation.spatialProbability,
                          mirrorLeftRight: d.augmentation.mirrorLeftRight)
        }

        /// The recipe as recommended for a federation in which one organ has fewer annotating sites (the
        /// experiment's: one spleen site of three): the federation file's defaults with hard distillation, so that
        /// the liver sites' scans carry the global model's spleen as labels from round 2 (with ``ExperimentConfig/weighting``
        /// organ-balanced). The federation file's default stays `none`: with two sites per organ (the demo) hard
        /// distillation measured worse (README).
        public static var oneSiteOfThree: Recipe {
            var r = defaults
            r.distillation = TrainingRecipe.Distillation.hard.rawValue
            return r
        }

        /// The recipe at `learningRate` over `rounds`. - Precondition: validated fields.
        func trainingRecipe(learningRate: Double, rounds: Int) -> TrainingRecipe {
            TrainingRecipe(learningRate: Float(learningRate), schedule: LearningRateSchedule(rawValue: learningRateSchedule) ?? .cosine,
                           finalLearningRate: Float(finalLearningRate), gradientClipNorm: gradientClipNorm > 0 ? Float(gradientClipNorm) : nil,
                           distillation: TrainingRecipe.Distillation(rawValue: distillation) ?? .soft, temperature: distillationTemperature,
                           distillationWeight: (distillationWeight.first ?? 0, distillationWeight.last ?? 0),
                           exclusionWeight: exclusionWeight, keepOptimiserState: keepOptimiserState, rounds: rounds,
                           augmentation: Augmentation(spatialProbability: spatialAugmentation, mirrorLeftRight: mirrorLeftRight),
                           axisFlip: axisFlip, positiveFraction: positiveFraction)
        }
    }

    /// Free-text name shown in the report.
    public var name: String
    /// Phantom geometry.
    public var phantom: Phantom
    /// Training sites.
    public var sites: [Site]
    /// External test set.
    public var external: External
    /// Network.
    public var network: Network
    /// Training budget.
    public var training: Training
    /// Setups to run, from ``Setup`` raw values; the report compares whichever ran.
    public var setups: [String]
    /// Seed repeats (`--seeds`).
    public var seeds: Int
    /// Secure aggregation clipping range: updates are clipped to [-clip, clip] before quantisation.
    public var clip: Double
    /// First round in which `global-distill` distils from the previous global model (earlier models are untrained).
    public var distillFromRound: Int
    /// Compute threads (OpenBLAS and the convolution kernels).
    public var threads: Int
    /// The `recipe` setups' training recipe.
    public var recipe: Recipe
    /// The `recipe` setups' server optimiser on each round's mean update (the federation file's
    /// `serverOptimizer`; default ``FederationFile/ServerOptimizerSpec/recommended``, as the demo's). The other
    /// federated setups always average plainly.
    public var serverOptimizer: FederationFile.ServerOptimizerSpec = .recommended
    /// The `recipe` setups' weighting of each site's update (the federation file's `weighting`). The other
    /// federated setups weigh by sample count.
    public var weighting: Weighting = .organBalanced
    /// The privacy sweep of `--privacy-sweep` (`PrivacySweepConfig.swift`); the other setups ignore it.
    public var privacySweep: PrivacySweep = .defaults

    /// The default experiment, sized to finish within an hour on 2 shared cores (see README for the arithmetic):
    /// 16 rounds of 5 local epochs (until 2026-12-03, 8 of 10: the same steps, but the last round landed in the
    /// middle of the spleen's climb, so one draw decided the final number).
    public static let standard = ExperimentConfig(
        name: "SegViz phantom experiment",
        phantom: Phantom(size: [64, 64, 48], spacing: 4.5),
        sites: [Site(id: "liver-a", organ: "liver", cases: 6, seed: 11),
                Site(id: "spleen-b", organ: "spleen", cases: 6, seed: 22),
                Site(id: "liver-c", organ: "liver", cases: 6, seed: 33)],
        external: External(cases: 6, seed: 99),
        network: Network(channels: [8, 16, 32, 64], numResUnits: 2, norm: "instance"),
        training: Training(rounds: 16, localEpochs: 5, patch: [48, 48, 32], patchesPerVolume: 4,
                           learningRate: 2e-3, seed: 2024, window: [-175, 250]),
        setups: Setup.allCases.map(\.rawValue), seeds: 1, clip: 0.5, distillFromRound: 2, threads: 2, recipe: .oneSiteOfThree)

    /// `--quick`: the same comparison on fewer cases, rounds and epochs (under 10 minutes on 2 cores).
    public static var quick: ExperimentConfig {
        var c = standard
        c.name = "SegViz phantom experiment (quick)"
        for i in c.sites.indices { c.sites[i].cases = 4 }
        c.external.cases = 4
        c.training.rounds = 4
        c.training.localEpochs = 4
        return c
    }

    /// Which setups to run, in report order.
    public var selectedSetups: [Setup] { Setup.allCases.filter { setups.contains($0.rawValue) } }

    /// Reads `path` over `base`: every field the file gives replaces the preset's; unknown fields, wrong types
    /// and invalid values are errors naming the file and the field.
    public static func load(path: String, over base: ExperimentConfig) throws -> ExperimentConfig {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ExperimentError.config(path: path, field: "(file)", problem: "cannot read: \(error.localizedDescription)")
        }
        return try decode(data, path: path, over: base)
    }

    /// Decodes JSON `data` over `base` (see ``load(path:over:)``); `path` names the source in errors.
    public static func decode(_ data: Data, path: String, over base: ExperimentConfig) throws -> ExperimentConfig {
        guard let user = try? JSONSerialization.jsonObject(with: data) else {
            throw ExperimentError.config(path: path, field: "(file)", problem: "not valid JSON")
        }
        var baseObject = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(base))
        // A given `serverOptimizer` reads as the federation file's does: the fields it leaves out take the
        // spec's defaults (β₁ 0.9, β₂ 0.99, τ 0.001), not the preset's recommended ones.
        if let u = user as? [String: Any], u["serverOptimizer"] != nil, var b = baseObject as? [String: Any] {
            b["serverOptimizer"] = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(FederationFile.ServerOptimizerSpec.fedavg))
            baseObject = b
        }
        let merged = try JSONMerge.merge(user, over: baseObject, path: path, field: "")
        let config: ExperimentConfig
        do {
            config = try JSONDecoder().decode(ExperimentConfig.self, from: try JSONSerialization.data(withJSONObject: merged))
        } catch let e as DecodingError {
            throw ExperimentError.config(path: path, field: JSONMerge.field(of: e), problem: "wrong type or value")
        }
        try config.validate(path: path)
        return config
    }

    /// The configuration as pretty, key-sorted JSON (written beside the results).
    public func encoded() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try enc.encode(self)
    }
}
