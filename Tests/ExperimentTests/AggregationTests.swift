@testable import Federation
import Foundation
import Imaging
import SecureAggregation
import Testing
@testable import Experiment

@Suite struct AggregationTests {
    /// A tiny heads model and three sites (liver, spleen, liver) with seeded random updates of different sizes.
    func setUp(scale: Float, seed: UInt64 = 17) -> (FederatedModel, [Contribution]) {
        let model = FederatedModel(strategy: .heads, organs: ["liver", "spleen"],
                                   network: .init(channels: [4, 8], strides: [2], numResUnits: 1, norm: "batch"), seed: 3)
        var rng = SeededRandom(seed: seed)
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
        // By hand: 3 sites of weight up to 4096 leave floor((2^32 - 1) / (3 * 4096)) = 349525 levels over
        // [-8, 8], so one quantum is 16 / 349525 (about 4.6e-5), and the reported bound must be that.
        let quantum = 16.0 / 349_525
        #expect(abs(bound - quantum) <= 1e-12, "reported bound \(bound), one quantum is \(quantum)")
        let diff = Aggregation.maxAbsDifference(secure, plain)
        #expect(diff <= quantum * (1 + 1e-6) + 1e-6, "difference \(diff) above one quantum \(quantum)")
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
