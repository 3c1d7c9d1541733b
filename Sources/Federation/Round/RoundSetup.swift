import Foundation
import SecureAggregation

/// Builds the pieces both sides derive from the federation file.
public enum RoundSetup {
    /// Largest per-node weight (training sample count) a node may contribute; larger counts are capped.
    public static let maximumWeight: UInt32 = 4096

    /// The roster of identity keys in federation order (a node's secure-aggregation id is its index).
    public static func roster(_ f: FederationFile) throws -> [Identity.PublicKey] {
        try f.nodes.indices.map { try Identity.PublicKey(rawRepresentation: try f.nodeKey($0).key) }
    }

    /// The federation's quantisation rule, in one place: SecureAggregation's largest level count that cannot
    /// overflow for `clients` nodes of weight up to ``maximumWeight``, over the clipping range `clip`.
    public static func quantisationLevels(clients: Int) -> UInt32 {
        Quantisation.maximumLevels(clients: clients, maxWeight: maximumWeight)
    }

    /// The quantisation of a round with `clients` nodes and clipping range `clip` (see ``quantisationLevels(clients:)``).
    public static func quantisation(clients: Int, clip: Double) throws -> Quantisation {
        try Quantisation(clip: Float(clip), levels: quantisationLevels(clients: clients), maxWeight: maximumWeight)
    }

    /// The masked vector's layout: one block per tensor of the model.
    public static func layout(_ model: FederatedModel) throws -> VectorLayout {
        try VectorLayout(blocks: model.entries.map { Block(name: $0.name, offset: $0.offset, count: $0.count) })
    }

    /// The secure-aggregation configuration of one round, bound to `context` (see ``RoundContext``); with
    /// `modelSelection`, its vector ends in the validation block (``ValidationVector``).
    public static func config(federation f: FederationFile, model: FederatedModel, context: RoundContext,
                              session: [UInt8]) throws -> SecAggConfig {
        let s = f.secureAggregation
        let q = try quantisation(clients: f.nodes.count, clip: s.clip)
        return try SecAggConfig(round: UInt64(context.round), roster: try roster(f), threshold: s.threshold,
                                layout: try ValidationVector.layout(federation: f, model: model), quantisation: q,
                                neighbours: s.neighbours, publicSeed: session, allowSmallBlocks: s.allowSingleContributorBlocks,
                                blockMap: ValidationVector.blockMap(federation: f, model: model),
                                collusionTolerance: s.collusionTolerance,
                                boundContext: context.binding)
    }

    /// Which node contributes to which tensor (signed into the round's configuration): every node to
    /// the shared tensors, and to a head only if it annotates that organ (as `blockWeights` weighs them).
    public static func blockMap(federation f: FederationFile, model: FederatedModel) -> [[Bool]] {
        f.nodes.map { node in model.entries.map { e in e.organ.map { node.organs.contains($0) } ?? true } }
    }

    /// The largest magnitude of `delta` and the tensor that holds it (nil for an empty model): what the
    /// clip must cover.
    public static func largestUpdate(model: FederatedModel, delta: [Float]) -> (name: String, largest: Float)? {
        model.entries.map { e in (e.name, delta[e.range].reduce(Float(0)) { max($0, abs($1)) }) }.max { $0.1 < $1.1 }
    }

    /// Tensors of `model` whose entries in `delta` exceed the clipping range (they would be clipped before
    /// quantisation, so the aggregate would not be the true average): name and largest magnitude.
    public static func clippedTensors(model: FederatedModel, delta: [Float], clip: Double) -> [(name: String, largest: Float)] {
        model.entries.compactMap { e in
            let largest = delta[e.range].reduce(Float(0)) { max($0, abs($1)) }
            return Double(largest) > clip ? (e.name, largest) : nil
        }
    }

    /// The secure-aggregation configuration of the round `announcement` describes (its session as bytes),
    /// bound to the model the node verified: `modelRound` from the signature's trusted comment and the hash of
    /// the file it checked, never the announcement's unsigned fields.
    public static func config(federation f: FederationFile, model: FederatedModel, announcement a: RoundAnnouncement,
                              verifiedModelRound: Int, verifiedModelHash: [UInt8]) throws -> SecAggConfig {
        let context = RoundContext(f, round: a.round, modelRound: verifiedModelRound, modelHash: verifiedModelHash)
        return try config(federation: f, model: model, context: context, session: try unhex(a.session, field: "announcement.session"))
    }

    /// Per-block weights of a node: its sample count times `factor` (``Weighting``) on shared tensors and on the
    /// heads of organs it annotates, 0 elsewhere; capped at ``maximumWeight``.
    public static func blockWeights(model: FederatedModel, organs: [String], samples: Int, factor: Int = 1) -> [UInt32] {
        let w = UInt32(min(max(samples, 1) * max(factor, 1), Int(maximumWeight)))
        return model.entries.map { e in e.organ.map { organs.contains($0) ? w : 0 } ?? w }
    }
}
