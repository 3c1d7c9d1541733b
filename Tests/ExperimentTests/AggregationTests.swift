@testable import Federation
import Foundation
import SecureAggregation
import Testing
@testable import Experiment

@Suite struct AggregationTests {
    /// A tiny heads model and three sites (liver, spleen, liver) with random updates of different sizes.
    func setUp(scale: Float) -> (FederatedModel, [Contribution]) {
        let model = FederatedModel(strategy: .heads, organs: ["liver", "spleen"],
                                   network: .init(channels: [4, 8], strides: [2], numResUnits: 1, norm: "batch"), seed: 3)
        var rng = SystemRandomNumberGenerator()
        let organs = ["liver", "spleen", "liver"], samples = [5, 3, 8]
        let contributions = (0..<3).map { k in
            Contribution(delta: model.values.map { _ in Float.random(in: -scale...scale, using: &rng) }, model: model,
                         organs: [organs[k]], samples: samples[k])
        }
        return (model, contributions)
    }

    @Test func secureAggregateIsWithinOneQuantumOfThePlainMean() throws {
        let (model, contributions) = setUp(scale: 0.3)
        let ids = contributions.map { _ in Identity.SigningKey() }
        let plain = Aggregation.plainMean(contributions, model: model)
        let (secure, bound) = try Aggregation.secureMean(contributions, model: model, round: 1, clip: 8, identities: ids)
        let quantum = try RoundSetup.quantisation(clients: 3, clip: 8).quantum
        #expect(bound >= quantum && bound < quantum * 1.01 + 1e-6)
        let diff = Aggregation.maxAbsDifference(secure, plain)
        #expect(diff <= bound, "difference \(diff) above bound \(bound)")
        #expect(diff > 0, "quantisation should leave some error")
    }

    @Test func plainMeanWeighsBySamplesAndKeepsHeadsApart() {
        let (model, contributions) = setUp(scale: 1)
        let mean = Aggregation.plainMean(contributions, model: model)
        for e in model.entries {
            let i = e.offset
            switch e.organ {
            case "spleen":  // only the spleen site trains the spleen head
                #expect(mean[i] == contributions[1].delta[i])
            case "liver":
                let expected = (5 * Double(contributions[0].delta[i]) + 8 * Double(contributions[2].delta[i])) / 13
                #expect(abs(Double(mean[i]) - expected) < 1e-6)
            default:
                let expected = (5 * Double(contributions[0].delta[i]) + 3 * Double(contributions[1].delta[i])
                    + 8 * Double(contributions[2].delta[i])) / 16
                #expect(abs(Double(mean[i]) - expected) < 1e-6)
            }
        }
    }
}
