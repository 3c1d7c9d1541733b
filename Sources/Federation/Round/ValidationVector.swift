import Foundation
import SecureAggregation

/// What one node measured on its held-out cases: per organ it annotates, the sum of the Dice of the global model
/// it received over its held-out cases, and how many cases that is.
public struct HeldOutScores: Sendable, Equatable {
    /// Organ name -> (Dice sum, case count).
    public var organs: [String: (sum: Double, count: Int)]

    /// Creates scores.
    public init(organs: [String: (sum: Double, count: Int)]) { self.organs = organs }

    /// `organ=mean (n cases)` per organ, for logs.
    public var summary: String {
        organs.sorted { $0.key < $1.key }.map { k, v in
            "\(k)=" + String(format: "%.4f", v.count > 0 ? v.sum / Double(v.count) : 0) + " (\(v.count) case(s))"
        }.joined(separator: " ")
    }

    public static func == (a: HeldOutScores, b: HeldOutScores) -> Bool {
        a.organs.keys.sorted() == b.organs.keys.sorted()
            && a.organs.allSatisfy { k, v in b.organs[k].map { $0.sum == v.sum && $0.count == v.count } == true }
    }
}

/// The validation scores' part of the round's secure-aggregation vector (with `modelSelection` in the federation
/// file): one block `validation` after the model's tensors, contributed by every node (so it joins the all-nodes
/// contribution group: no new weight sum is released), holding per organ, in label order, a Dice sum and a case
/// count. A node that does not annotate an organ sends 0 and 0 there.
///
/// Every element of a node's block is multiplied by its one aggregation weight w (the protocol has one weight per
/// node per round), so a node sends x = value / (w · B) · clip with B = `heldOutCases` (value ≤ B, so x lies in
/// [0, clip]); the dequantised sum Σ wᵢ xᵢ times B / clip is then the plain sum of the nodes' values. Stochastic
/// rounding is unbiased and off by less than one level per node, so each recovered sum is within
/// W · B · 2 / levels of the true one (W: the released weight sum) — ``Sums/errorBound``.
public enum ValidationVector {
    /// The block's name in the layout.
    public static let blockName = "validation"

    /// The validation block of a round of `federation` over `model` (nil without `modelSelection`).
    public static func block(federation f: FederationFile, model: FederatedModel) -> Block? {
        guard f.modelSelection != nil else { return nil }
        return Block(name: blockName, offset: model.values.count, count: 2 * f.organNames.count)
    }

    /// The round's layout: the model's tensors, then the validation block if any.
    public static func layout(federation f: FederationFile, model: FederatedModel) throws -> VectorLayout {
        let base = try RoundSetup.layout(model)
        guard let b = block(federation: f, model: model) else { return base }
        return try VectorLayout(blocks: base.blocks + [b])
    }

    /// The round's block map: the model's, plus every node contributing to the validation block.
    public static func blockMap(federation f: FederationFile, model: FederatedModel) -> [[Bool]] {
        let base = RoundSetup.blockMap(federation: f, model: model)
        return block(federation: f, model: model) == nil ? base : base.map { $0 + [true] }
    }

    /// A node's block weights: the model's, plus its weight on the validation block.
    public static func blockWeights(federation f: FederationFile, model: FederatedModel, organs: [String], samples: Int) -> [UInt32] {
        let base = RoundSetup.blockWeights(model: model, organs: organs, samples: samples,
                                           factor: f.effectiveWeighting.factor(federation: f, organs: organs))
        return block(federation: f, model: model) == nil ? base : base + [nodeWeight(samples: samples)]
    }

    /// The fewest contributors any block of the vector may be released with (as the protocol's rule).
    public static func minimumContributors(_ f: FederationFile) -> Int {
        f.secureAggregation.allowSingleContributorBlocks ? 1 : 2
    }

    /// The one weight a node with `samples` training cases sends (as `RoundSetup.blockWeights` caps it).
    static func nodeWeight(samples: Int) -> UInt32 { UInt32(min(max(samples, 1), Int(RoundSetup.maximumWeight))) }

    /// The validation block's elements for a node with `samples` training cases that measured `scores` (nil: it
    /// has none; it sends zeros). Values above the bound B are refused, so no node can outweigh its cases.
    public static func elements(federation f: FederationFile, scores: HeldOutScores?, samples: Int) throws -> [Float] {
        guard let spec = f.modelSelection else { return [] }
        let organs = f.organNames
        let scale = f.secureAggregation.clip / (Double(nodeWeight(samples: samples)) * Double(spec.heldOutCases))
        var out = [Float](repeating: 0, count: 2 * organs.count)
        for (k, organ) in organs.enumerated() {
            // An organ fewer than the minimum of nodes annotate would be one node's score in the sum: never sent.
            guard let s = scores?.organs[organ], f.nodes.filter({ $0.organs.contains(organ) }).count >= minimumContributors(f) else {
                continue
            }
            guard s.count >= 0, s.count <= spec.heldOutCases, s.sum >= 0, s.sum <= Double(s.count) else {
                throw FederationError.invalidField(field: "modelSelection.heldOutCases",
                                                   value: "held-out scores for \(organ) (sum \(s.sum) over \(s.count) cases)",
                                                   expected: "at most \(spec.heldOutCases) cases, each scored 0...1")
            }
            out[2 * k] = Float(s.sum * scale)
            out[2 * k + 1] = Float(Double(s.count) * scale)
        }
        return out
    }

    /// The sums the aggregator learns.
    public struct Sums: Sendable, Equatable, Codable {
        /// Per organ: the summed Dice over every surviving node's held-out cases of that organ.
        public var diceSums: [String: Double]
        /// Per organ: the summed case count (rounded to the nearest integer).
        public var counts: [String: Int]
        /// The largest error each recovered sum may carry from quantisation.
        public var errorBound: Double
    }

    /// The validation sums in a completed round's `result`, if the round carried a validation block.
    public static func sums(federation f: FederationFile, result: AggregateResult) -> Sums? {
        guard let spec = f.modelSelection, let b = result.layout.blocks.last, b.name == blockName,
              let bi = result.layout.blocks.indices.last else { return nil }
        let organs = f.organNames
        let unscale = Double(spec.heldOutCases) / f.secureAggregation.clip
        let levels = Double(RoundSetup.quantisationLevels(clients: f.nodes.count))
        var sums = Sums(diceSums: [:], counts: [:],
                        errorBound: Double(result.blockWeights[bi]) * Double(spec.heldOutCases) * 2 / levels)
        for (k, organ) in organs.enumerated() where 2 * k + 1 < b.count {
            sums.diceSums[organ] = max(0, Double(result.weightedSums[b.offset + 2 * k]) * unscale)
            sums.counts[organ] = max(0, Int((Double(result.weightedSums[b.offset + 2 * k + 1]) * unscale).rounded()))
        }
        return sums
    }
}
