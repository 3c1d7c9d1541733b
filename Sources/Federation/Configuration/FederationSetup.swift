import Foundation
import Tensor

/// Creates a federation: identity keys for the aggregator and each node, and the federation file that pins
/// them. Used by `segviz demo`, the tests, and documented for a real two-machine set-up.
public enum FederationSetup {
    /// A node to create.
    public struct NodeSpec: Sendable {
        /// Node id.
        public var id: String
        /// Organs its labels annotate.
        public var organs: [String]
        /// Creates a spec.
        public init(id: String, organs: [String]) { self.id = id; self.organs = organs }
    }

    /// Defaults for a small federation that trains on 2 cores.
    public static func defaultFederation(name: String, aggregatorKey: Minisign.PublicKey, url: String,
                                         nodes: [(NodeSpec, Minisign.PublicKey)]) -> FederationFile {
        FederationFile(
            version: 1, name: name,
            aggregator: .init(id: "aggregator", publicKey: aggregatorKey.base64, url: url, tlsCertificate: nil),
            labels: ["0": "background", "1": "liver", "2": "spleen"],
            nodes: nodes.map { .init(id: $0.0.id, publicKey: $0.1.base64, organs: $0.0.organs) },
            network: .init(channels: [8, 16, 32, 64], strides: [2, 2, 2], numResUnits: 2, norm: "batch"),
            strategy: .single, localPatterns: [], rounds: 3, localEpochs: 2,
            training: .init(patch: [32, 48, 48], patchesPerVolume: 4, learningRate: 2e-3, spacing: [3, 3, 3],
                            window: [-175, 250], seed: 2024),
            // Clip 256: batch norm's running variances move by up to ~120 in a round (measured in the demo), and a
            // clipped running statistic corrupts the global model. The quantum grows with the clip (about 1.5e-3
            // with 3 nodes) but the rounding is unbiased, so its noise on the average stays far below a round's step.
            // Threshold floor(2n/3) + 1: safe against nodes colluding with the aggregator (with 4 nodes, 3: one may drop out).
            secureAggregation: .init(threshold: 2 * nodes.count / 3 + 1, clip: 256, neighbours: nil,
                                     allowSingleContributorBlocks: false),
            phaseTimeoutSeconds: 30, trainingTimeoutSeconds: 600)
    }

    /// Generates keys in `keysDirectory` (aggregator + nodes), builds the file with `customise`, validates it
    /// and writes it to `keysDirectory/federation.json`. Returns the file.
    @discardableResult
    public static func create(keysDirectory: String, name: String, url: String, nodes: [NodeSpec],
                              customise: (inout FederationFile) -> Void = { _ in }) throws -> FederationFile {
        let agg = try KeyFiles.generate(id: "aggregator", directory: keysDirectory)
        var pairs: [(NodeSpec, Minisign.PublicKey)] = []
        for n in nodes { pairs.append((n, try KeyFiles.generate(id: n.id, directory: keysDirectory))) }
        var f = defaultFederation(name: name, aggregatorKey: agg, url: url, nodes: pairs)
        customise(&f)
        try f.validate()
        let path = URL(fileURLWithPath: keysDirectory).appendingPathComponent("federation.json").path
        try AtomicFile.write(path: path, contents: try f.encoded())
        return f
    }
}
