import Foundation

/// The fingerprint every party checks: BLAKE2b-256 of the file's canonical form (every field with its default
/// filled in, keys sorted, no whitespace, `aggregator.url` left out because parties may reach the aggregator
/// under different names). It is bound into each round's signed secure-aggregation configuration
/// (`RoundContext`), and the aggregator announces it with a digest per field, so a node whose file differs
/// names both fingerprints and the first differing field.
extension FederationFile {
    /// The file as a JSON tree with every field present; without `aggregator.url` unless `includingURL`.
    public func canonicalTree(includingURL: Bool = false) throws -> JSONValue {
        let tree = try JSONDecoder().decode(JSONValue.self, from: try JSONEncoder().encode(self))
        guard !includingURL, var top = tree.object, var agg = top["aggregator"]?.object else { return tree }
        agg["url"] = nil
        top["aggregator"] = .object(agg)
        return .object(top)
    }

    /// The canonical form's text.
    public func canonicalText() -> String { ((try? canonicalTree()) ?? .null).canonicalText() }

    /// BLAKE2b-256 of the canonical form (32 bytes).
    public var fingerprintBytes: [UInt8] { FedCrypto.blake2b256(Array(canonicalText().utf8)) }

    /// The fingerprint as lower-case hex.
    public var fingerprint: String { hex(fingerprintBytes) }

    /// One digest (16 hex digits of BLAKE2b-256 of the value's canonical text) per field of the canonical form,
    /// by dotted path; arrays of objects are split per entry (`nodes.0.organs`), other arrays are one field.
    public var fieldDigests: [String: String] {
        var out: [String: String] = [:]
        func walk(_ v: JSONValue, _ path: String) {
            switch v {
            case .object(let o): for (k, x) in o { walk(x, path.isEmpty ? k : "\(path).\(k)") }
            case .array(let a) where a.contains(where: { $0.object != nil }):
                for (i, x) in a.enumerated() { walk(x, "\(path).\(i)") }
            default: out[path] = String(hex(FedCrypto.blake2b256(Array(v.canonicalText().utf8))).prefix(16))
            }
        }
        walk((try? canonicalTree()) ?? .null, "")
        return out
    }

    /// The first field (in sorted order) whose digest differs between two digest lists, or that only one has.
    public static func firstDifference(_ a: [String: String], _ b: [String: String]) -> String? {
        Set(a.keys).union(b.keys).sorted().first { a[$0] != b[$0] }
    }
}
