import Federation
import Foundation
import SecureAggregation

/// One site's update in a round: its trained values minus the round's global values, and per-tensor weights
/// (its sample count on shared tensors and on its organs' heads, 0 on other heads).
public struct Contribution: Sendable {
    /// Update, one value per model element.
    public let delta: [Float]
    /// Weight per model entry (``RoundSetup/blockWeights(model:organs:samples:)``).
    public let blockWeights: [UInt32]

    /// A contribution of `samples` training volumes from a site annotating `organs`, its weight multiplied by
    /// `factor` (``Federation/Weighting``).
    public init(delta: [Float], model: FederatedModel, organs: [String], samples: Int, factor: Int = 1) {
        self.delta = delta
        blockWeights = RoundSetup.blockWeights(model: model, organs: organs, samples: samples, factor: factor)
    }
}

/// The two ways a round's updates are combined: the plain weighted mean, and the real secure-aggregation
/// protocol (Bonawitz et al. 2017) run in-process with the federation's quantisation.
public enum Aggregation {
    /// Per tensor: sum of weight x update over the sum of weights (Double accumulation); 0 where nobody contributed.
    public static func plainMean(_ contributions: [Contribution], model: FederatedModel) -> [Float] {
        var out = [Float](repeating: 0, count: model.values.count)
        for (b, e) in model.entries.enumerated() {
            let total = contributions.reduce(0.0) { $0 + Double($1.blockWeights[b]) }
            guard total > 0 else { continue }
            for i in e.range {
                var s = 0.0
                for c in contributions where c.blockWeights[b] > 0 { s += Double(c.blockWeights[b]) * Double(c.delta[i]) }
                out[i] = Float(s / total)
            }
        }
        return out
    }

    /// The secure aggregate: every site runs a ``SecAggClient`` and the aggregator a ``SecAggServer`` (the same
    /// state machines as a live federation; messages pass as encoded bytes through ``InProcessSecureRound``), with
    /// the federation's threshold rule (a majority) and quantisation. Single-contributor blocks (an organ's head
    /// that one site trains) are allowed, as they must be for the heads strategy with one spleen site.
    /// Returns the unmasked weighted mean and the protocol's per-element error bound.
    public static func secureMean(_ contributions: [Contribution], model: FederatedModel, round: Int,
                                  clip: Double, identities: [Identity.SigningKey]) throws -> (mean: [Float], bound: Double) {
        precondition(identities.count == contributions.count, "secureMean: one identity per contribution")
        let n = contributions.count
        let config: SecAggConfig
        var random = SystemRandom()
        do {
            config = try SecAggConfig(round: UInt64(round), roster: identities.map(\.publicKey),
                                      layout: try RoundSetup.layout(model), quantisation: try RoundSetup.quantisation(clients: n, clip: clip),
                                      neighbours: nil, publicSeed: random.bytes(32), allowSmallBlocks: true,
                                      blockMap: contributions.map { $0.blockWeights.map { $0 > 0 } })
        } catch {
            throw ExperimentError.secureRound(round: round, problem: "configuration: \(error)")
        }
        let updates = contributions.map { ClientUpdate(values: $0.delta, blockWeights: $0.blockWeights) }
        let result = try InProcessSecureRound(config: config).run(identities: identities, updates: updates)
        guard result.survivors.count == n else {
            throw ExperimentError.secureRound(round: round, problem: "only \(result.survivors.count) of \(n) sites survived")
        }
        return (result.weightedMean(), result.meanErrorBound)
    }

    /// Largest element-wise absolute difference of two equally long vectors.
    public static func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count, "maxAbsDifference: lengths \(a.count) and \(b.count)")
        var m = 0.0
        for i in a.indices { m = max(m, Double(abs(a[i] - b[i]))) }
        return m
    }
}
