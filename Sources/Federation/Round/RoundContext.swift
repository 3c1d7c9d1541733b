import Foundation

/// What one round's secure aggregation is about, bound into its signed configuration: the 32-byte
/// `SecAggConfig.boundContext` is ``binding``, a hash over these fields. Every node computes it from the global
/// model *it verified* (hash of the file, round from the signature's trusted comment), the aggregator from the
/// model it serves. The configuration digest, which each node signs in its key advertisement, covers it, so
/// nodes handed different or older models sign different digests, refuse each other's keys and abort before
/// any masked input is sent (model inconsistency, Pasquini et al., CCS 2022).
///
/// Extending it: add a field here and one line to ``fields`` (name and canonical bytes); every node and the
/// aggregator then disagree unless they agree on it too. The struct lives only here.
public struct RoundContext: Equatable, Sendable {
    /// The federation file's `name`.
    public var federation: String
    /// BLAKE2b-256 of the federation file's canonical form (`FederationFile.fingerprintBytes`): a party whose
    /// copy of the file differs computes another binding and cannot take part.
    public var federationFingerprint: [UInt8]
    /// The round r (it produces global model r+1 from model r; code counts it from 1).
    public var round: Int
    /// The round of the global model the round starts from (from its signature's trusted comment).
    public var modelRound: Int
    /// BLAKE2b-256 of that global model's file (32 bytes).
    public var modelHash: [UInt8]

    /// Creates a context.
    public init(federation: String, fingerprint: [UInt8], round: Int, modelRound: Int, modelHash: [UInt8]) {
        self.federation = federation
        self.federationFingerprint = fingerprint
        self.round = round
        self.modelRound = modelRound
        self.modelHash = modelHash
    }

    /// The named fields, in a fixed order, as canonical bytes.
    var fields: [(name: String, bytes: [UInt8])] {
        [("federation", Array(federation.utf8)),
         ("federation-fingerprint", federationFingerprint),
         ("round", Self.u64(round)),
         ("model-round", Self.u64(modelRound)),
         ("model-blake2b256", modelHash)]
    }

    /// The 32 bytes bound into the round's configuration: BLAKE2b-256 over a label and every field as
    /// length-prefixed name and value (so no two different contexts encode alike).
    public var binding: [UInt8] {
        var w = Array("segviz-round-context/v1".utf8)
        for f in fields { w += Self.u64(f.name.utf8.count) + Array(f.name.utf8) + Self.u64(f.bytes.count) + f.bytes }
        return FedCrypto.blake2b256(w)
    }

    /// The context of round `round` of `federation`, starting from model `modelRound` whose file hashes to `modelHash`.
    public init(_ federation: FederationFile, round: Int, modelRound: Int, modelHash: [UInt8]) {
        self.init(federation: federation.name, fingerprint: federation.fingerprintBytes, round: round,
                  modelRound: modelRound, modelHash: modelHash)
    }

    static func u64(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt64(truncatingIfNeeded: v).littleEndian, Array.init) }

    /// The trusted comment the aggregator signs on global model `round` whose file hashes to `hashHex`.
    public static func trustedComment(modelRound round: Int, hashHex: String) -> String {
        "segviz global model round=\(round) file_blake2b256=\(hashHex)"
    }

    /// The model round and hex file hash a trusted comment names, or nil when it is not one of ours.
    public static func parseTrustedComment(_ comment: String) -> (modelRound: Int, hashHex: String)? {
        let parts = comment.split(separator: " ")
        guard parts.count == 5, parts[0] == "segviz", parts[1] == "global", parts[2] == "model",
              parts[3].hasPrefix("round="), parts[4].hasPrefix("file_blake2b256=") else { return nil }
        let r = parts[3].dropFirst(6), h = parts[4].dropFirst(16)
        guard let round = DecimalDigits.parse(r, maxDigits: 9), h.utf8.count == 64 else { return nil }
        return (Int(round), String(h))
    }
}
