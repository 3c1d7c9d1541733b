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

    /// The file `segviz init` writes: the given identities and organs, every other field at its default
    /// (`FederationSchema`: a small network that trains on 2 cores, strategy single, threshold floor(2n/3)+1).
    public static func defaultFederation(name: String, aggregatorKey: Minisign.PublicKey, url: String,
                                         aggregatorID: String = "aggregator", strategy: FederationFile.Strategy = .single,
                                         nodes: [(NodeSpec, Minisign.PublicKey)]) -> FederationFile {
        let tree = JSONValue.object([
            "version": .number(Double(FederationSchema.version)), "name": .string(name),
            "aggregator": .object(["id": .string(aggregatorID), "publicKey": .string(aggregatorKey.base64), "url": .string(url)]),
            "strategy": .string(strategy.rawValue),
            "nodes": .array(nodes.map { n, k in
                .object(["id": .string(n.id), "publicKey": .string(k.base64), "organs": .array(n.organs.map { .string($0) })])
            }),
        ])
        // Every field the tree lacks has a default and every given one has the right type, so it always decodes
        // (FederationConfigTests checks the defaults); whether the values fit together is `validate()`'s job.
        return FederationValidator.check(tree).file!
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
