import Federation
import Foundation
@testable import Imaging
import Tensor
import Testing
@testable import Experiment

/// The experiment's `recipe` setups step the global model through the configured server optimiser, as the
/// aggregator does. Oracle: FedAvgM with momentum 0 and server rate η moves the global model by exactly η times
/// the plain FedAvg step from the same model (the sites' local training is identical and seeded); with momentum
/// 0.9 the first round equals FedAvg's and the second does not.
@Suite struct ServerOptimizerExperimentTests {
    static func site(_ id: String, organ: Organ, mapping: String, shift: Int) throws -> SiteData {
        let grid = VoxelGrid(dims: [16, 16, 16], affine: .identity)
        var items: [TrainingSet.Item] = []
        for n in 0..<2 {
            var image = Volume(grid: grid, repeating: 0.1), label = Volume(grid: grid, repeating: 0)
            for k in 4..<12 { for j in (3 + n)..<11 { for i in (2 + shift)..<(10 + shift) {
                image.voxels[image.index(i, j, k)] = 0.8
                label.voxels[label.index(i, j, k)] = 1
            } } }
            items.append(.init(id: "\(id)-\(n)", image: image, label: label))
        }
        let set = TrainingSet(items: items, skipped: [], mapping: try LabelMapping(parsing: mapping),
                              preprocessing: Preprocessing(), originals: [])
        return SiteData(id: id, organ: organ, set: set, samplingSeed: UInt64(7 + shift))
    }

    /// The global values after each of `rounds` rounds of the recipe with `spec`.
    static func globals(_ spec: FederationFile.ServerOptimizerSpec, rounds: Int) throws -> [[Float]] {
        var config = ExperimentConfig.standard
        config.network.channels = [2, 4]
        config.training.patch = [16, 16, 16]
        config.training.patchesPerVolume = 1
        config.training.rounds = rounds
        config.serverOptimizer = spec
        let sites = [try site("liver-a", organ: .liver, mapping: "msd-liver", shift: 0),
                     try site("spleen-b", organ: .spleen, mapping: "msd-spleen", shift: 4)]
        let federated = FederatedRounds(config: config, sites: sites, training: RoundTraining(config), secure: false,
                                        localPatterns: [], recipe: config.recipe.trainingRecipe(learningRate: 1e-2, rounds: rounds),
                                        serverOptimizer: spec)
        var model = FederatedModel(strategy: .single, organs: ["liver", "spleen"], network: try config.network.federationSpec(), seed: 5)
        var out = [model.values]
        for r in 1...rounds {
            try Compute.withThreads(1) { _ = try federated.round(global: &model, round: r) }
            out.append(model.values)
        }
        return out
    }

    @Test func theRecipeSetupsStepThroughTheServerOptimiser() throws {
        let plain = try Self.globals(.fedavg, rounds: 2)
        let half = try Self.globals(.init(name: .fedavgm, learningRate: 0.5, beta1: 0), rounds: 2)
        let sameStart = plain[0] == half[0]
        #expect(sameStart)
        var worst: Float = 0, largest: Float = 0
        for i in plain[0].indices {
            let expected = plain[0][i] + 0.5 * (plain[1][i] - plain[0][i])
            worst = max(worst, abs(half[1][i] - expected))
            largest = max(largest, abs(plain[1][i] - plain[0][i]))
        }
        #expect(largest > 1e-3, "the round moved the model")
        #expect(worst <= 1e-6, "FedAvgM(eta 0.5, beta 0) is half of FedAvg's step: off by \(worst)")
        let momentum = try Self.globals(.init(name: .fedavgm, learningRate: 1, beta1: 0.9), rounds: 2)
        let firstStepIsFedAvg = momentum[1] == plain[1]
        #expect(firstStepIsFedAvg, "FedAvgM's first step is FedAvg's")
        let secondDiffers = momentum[2] != plain[2]
        #expect(secondDiffers, "the second carries momentum")
    }

    @Test func badServerOptimiserFieldsAreNamed() throws {
        for (json, field) in [(#"{"serverOptimizer": {"name": "fedavgm", "learningRate": 0}}"#, "serverOptimizer.learningRate"),
                              (#"{"serverOptimizer": {"name": "fedadam", "learningRate": 0.1, "beta1": 1}}"#, "serverOptimizer.beta1"),
                              (#"{"serverOptimizer": {"name": "fedyogi", "learningRate": 0.1, "tau": 0}}"#, "serverOptimizer.tau")] {
            do {
                _ = try ExperimentConfig.decode(Data(json.utf8), path: "exp.json", over: .standard)
                Issue.record("accepted \(json)")
            } catch let ExperimentError.config(path, f, _) {
                #expect(path == "exp.json" && f == field)
            }
        }
        let c = try ExperimentConfig.decode(Data(#"{"serverOptimizer": {"name": "fedavgm", "learningRate": 1}}"#.utf8), path: "exp.json",
                                            over: .standard)
        #expect(c.serverOptimizer == .init(name: .fedavgm, learningRate: 1))
        #expect(c.serverOptimizer.beta1 == 0.9, "left out, β₁ is the federation file's default, not the preset's 0")
        #expect(ExperimentConfig.standard.serverOptimizer.beta1 == 0)
    }
}
