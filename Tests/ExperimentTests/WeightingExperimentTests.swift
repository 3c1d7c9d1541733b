import Federation
import Foundation
import Testing
@testable import Experiment

/// The experiment's `recipe` setups weigh the sites as the federation's nodes do (``Federation/Weighting``).
/// Oracle: weighted means worked out by hand.
@Suite struct WeightingExperimentTests {
    @Test func organBalanceWeighsTheSpleenSiteAsBothLiverSites() throws {
        let model = FederatedModel(strategy: .single, organs: ["liver", "spleen"],
                                   network: .init(channels: [2, 4], strides: [2], numResUnits: 1, norm: "instance"), seed: 3)
        let n = model.values.count
        let factors = Weighting.organFactors(nodeOrgans: [["liver"], ["spleen"], ["liver"]])
        let deltas: [Float] = [1, 4, 1]
        let balanced = zip(deltas, factors).map { d, f in
            Contribution(delta: Array(repeating: d, count: n), model: model, organs: [], samples: 6, factor: f)
        }
        let plain = deltas.map { Contribution(delta: Array(repeating: $0, count: n), model: model, organs: [], samples: 6) }
        // (6·1 + 12·4 + 6·1) / 24 = 2.5 against (1 + 4 + 1) / 3 = 2.
        #expect(Set(Aggregation.plainMean(balanced, model: model)) == [2.5])
        #expect(Set(Aggregation.plainMean(plain, model: model)) == [2])
    }

    @Test func theFederatedRoundsWeighTheSitesByTheirOrgans() throws {
        let sites = [try ServerOptimizerExperimentTests.site("liver-a", organ: .liver, mapping: "msd-liver", shift: 0),
                     try ServerOptimizerExperimentTests.site("spleen-b", organ: .spleen, mapping: "msd-spleen", shift: 4),
                     try ServerOptimizerExperimentTests.site("liver-c", organ: .liver, mapping: "msd-liver", shift: 2)]
        let config = ExperimentConfig.standard
        func rounds(_ w: Weighting) -> FederatedRounds {
            FederatedRounds(config: config, sites: sites, training: RoundTraining(config), secure: false, localPatterns: [],
                            recipe: config.recipe.trainingRecipe(learningRate: 1e-2, rounds: 1), weighting: w)
        }
        #expect(rounds(.organBalanced).factors == [1, 2, 1])
        #expect(rounds(.samples).factors == [1, 1, 1])
    }

    @Test func theRecipeSetupsTakeTheConfiguredWeighting() throws {
        #expect(ExperimentConfig.standard.weighting == .organBalanced)
        let config = try ExperimentConfig.decode(Data(#"{"weighting": "samples"}"#.utf8), path: "w.json", over: .standard)
        #expect(config.weighting == .samples)
        #expect(throws: ExperimentError.self) {
            _ = try ExperimentConfig.decode(Data(#"{"weighting": "organ"}"#.utf8), path: "w.json", over: .standard)
        }
    }
}
