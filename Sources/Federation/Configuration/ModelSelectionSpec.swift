import Foundation

extension FederationFile {
    /// Model selection on the nodes' own held-out cases, never on an external set: each node keeps
    /// `heldOutCases` of its cases out of training and, in every round, scores the global model it received
    /// (Dice per organ it annotates). The scores travel inside the round's secure-aggregation vector, so the
    /// aggregator learns only their sums; it signs the best-scoring model as `global-best.safetensors`.
    public struct ModelSelectionSpec: Codable, Equatable, Sendable {
        /// Cases each node holds out of training (chosen by the node's seed; the node needs more cases than this).
        public var heldOutCases: Int

        /// Creates a spec.
        public init(heldOutCases: Int) { self.heldOutCases = heldOutCases }

        /// The largest `heldOutCases` a file may state (it also bounds each node's score in the secure vector).
        public static let maximumHeldOutCases = 64
    }
}

extension FederationSchema {
    /// The optional `modelSelection` object (absent: no held-out cases, the last model is the only one).
    static let modelSelectionField = opt("modelSelection", .object([
        req("heldOutCases", .integer(min: 1, max: FederationFile.ModelSelectionSpec.maximumHeldOutCases),
            "Cases each node keeps out of training to score the global model it receives (Dice per organ it annotates)."),
    ]), nil, "Select the best round on the nodes' held-out cases (scores summed by secure aggregation); absent: no selection.")
}
