import Foundation

/// A node's signed statement, for one attempt of one round of a federation with `privacy`: "after charging this
/// round, the epsilon I have spent is within the federation's budget (epsilon, delta)". The node signs it with
/// its identity key (the key the federation file lists for it) and sends it before its masked input
/// (`POST /v1/rounds/{round}/{session}/privacy`); the aggregator refuses the masked input of a node that has not
/// attested for the attempt, records the survivors' attestations in the round's ledger record and in the signed
/// model's manifest (``RoundPrivacy``), and anyone holding the federation file re-verifies them offline
/// (`segviz audit`, `segviz verify`).
///
/// What it carries is public already: the node's id, the federation's fingerprint, the round and attempt
/// (session), the budget of the federation file and a fixed statement. It deliberately carries **no figure of the
/// node's own**: no patient or case count, no sample rate or step count derived from one, and no spent epsilon. A
/// spent epsilon would say how many rounds the node trained (restarts and retrained attempts included), and under
/// any accounting whose sampling rate is batch size over patients it would give the patient count away; published
/// in the ledger and the model, it would reveal exactly what the budget is meant to protect. One bit ("within the
/// budget") is all the statement says.
///
/// What it proves: that the holder of the node's key claimed, for this attempt, to be within the budget. It does
/// not prove that the node ran DP-SGD or kept its account honestly: a malicious node can sign it and lie (out of
/// scope, threat-model.md T15).
public struct PrivacyAttestation: Codable, Equatable, Sendable {
    /// The fixed statement signed (spent epsilon after this round <= the budget).
    public static let statementText = "spent-epsilon-after-this-round-within-budget"
    /// The domain label of the signed bytes (no other SegViz signature starts with it).
    static let label = "segviz-privacy-attestation/v1"
    /// The largest request body the aggregator reads as an attestation.
    public static let maxBodyBytes = 2048

    /// The attesting node's id.
    public var node: String
    /// Hex BLAKE2b-256 of the federation file's canonical form.
    public var federationFingerprint: String
    /// The ledger round (attempt) it is for.
    public var round: Int
    /// The attempt's session (hex, from the announcement).
    public var session: String
    /// The federation's budget: epsilon per patient per site over the whole federation.
    public var epsilon: Double
    /// Delta of the budget.
    public var delta: Double
    /// ``statementText``.
    public var statement: String
    /// Base64 Ed25519 signature of ``signedBytes`` by the node's identity key.
    public var signature: String

    /// What a typed check found wrong; each case names the field.
    public enum Problem: Error, Equatable, CustomStringConvertible {
        /// The field is missing, of the wrong form, or the body is not an attestation.
        case malformed(field: String, reason: String)
        /// The field holds `found` where `expected` was required.
        case mismatch(field: String, found: String, expected: String)
        /// The node is not in the federation file.
        case unknownNode(node: String)
        /// The signature does not verify against the node's key in the federation file.
        case signatureDoesNotVerify(node: String)

        /// The field concerned.
        public var field: String {
            switch self {
            case let .malformed(f, _), let .mismatch(f, _, _): return f
            case .unknownNode: return "node"
            case .signatureDoesNotVerify: return "signature"
            }
        }

        public var description: String {
            switch self {
            case let .malformed(f, r): return "privacy attestation: field \(f): \(r)"
            case let .mismatch(f, found, expected): return "privacy attestation: field \(f) is \(found), expected \(expected)"
            case let .unknownNode(n): return "privacy attestation: node \(n) is not in the federation file"
            case let .signatureDoesNotVerify(n):
                return "privacy attestation: field signature does not verify against node \(n)'s key in the federation file"
            }
        }
    }

    /// The bytes signed: the label and every field but the signature, each length-prefixed (no two attestations
    /// encode alike); epsilon and delta as their IEEE-754 bit patterns.
    public var signedBytes: [UInt8] {
        let fields: [(String, [UInt8])] = [
            ("node", Array(node.utf8)), ("federation-fingerprint", Array(federationFingerprint.utf8)),
            ("round", RoundContext.u64(round)), ("session", Array(session.utf8)),
            ("epsilon", withUnsafeBytes(of: epsilon.bitPattern.littleEndian, Array.init)),
            ("delta", withUnsafeBytes(of: delta.bitPattern.littleEndian, Array.init)), ("statement", Array(statement.utf8)),
        ]
        var w = Array(Self.label.utf8)
        for (name, bytes) in fields {
            w += RoundContext.u64(name.utf8.count) + Array(name.utf8) + RoundContext.u64(bytes.count) + bytes
        }
        return w
    }

    /// Node `node`'s attestation for attempt `round`/`session` of `federation` (with `privacy`), signed with `key`.
    public static func make(federation: FederationFile, node: String, round: Int, session: String,
                            key: IdentityKey) throws(Problem) -> PrivacyAttestation {
        guard let p = federation.privacy else {
            throw .malformed(field: "epsilon", reason: "the federation file has no privacy budget")
        }
        var a = PrivacyAttestation(node: node, federationFingerprint: federation.fingerprint, round: round, session: session,
                                   epsilon: p.epsilon, delta: p.delta, statement: statementText, signature: "")
        a.signature = Data(key.sign(a.signedBytes)).base64EncodedString()
        return a
    }

    /// Checks it against `federation` alone (what `segviz audit` and `segviz verify` can check offline): its form,
    /// the fingerprint, the budget, the statement and the signature by the node's listed key.
    public func verify(federation: FederationFile) throws(Problem) {
        guard let p = federation.privacy else {
            throw .mismatch(field: "epsilon", found: "\(epsilon)", expected: "no attestation (the federation file has no privacy budget)")
        }
        guard let idx = federation.nodes.firstIndex(where: { $0.id == node }) else { throw .unknownNode(node: node) }
        for (field, value) in [("federationFingerprint", federationFingerprint), ("session", session)] {
            guard value.utf8.count == 64, value.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else {
                throw .malformed(field: field, reason: "not 64 lower-case hex digits")
            }
        }
        guard round >= 1 else { throw .malformed(field: "round", reason: "\(round) is not a round (from 1)") }
        guard federationFingerprint == federation.fingerprint else {
            throw .mismatch(field: "federationFingerprint", found: String(federationFingerprint.prefix(16)),
                            expected: String(federation.fingerprint.prefix(16)))
        }
        guard epsilon == p.epsilon else { throw .mismatch(field: "epsilon", found: "\(epsilon)", expected: "\(p.epsilon)") }
        guard delta == p.delta else { throw .mismatch(field: "delta", found: "\(delta)", expected: "\(p.delta)") }
        guard statement == Self.statementText else {
            throw .mismatch(field: "statement", found: String(statement.prefix(80)), expected: Self.statementText)
        }
        guard let sig = Data(base64Encoded: signature), sig.count == 64 else {
            throw .malformed(field: "signature", reason: "not a base64 Ed25519 signature (64 bytes)")
        }
        let key: Minisign.PublicKey
        do throws(FederationError) { key = try federation.nodeKey(idx) } catch {
            throw .malformed(field: "nodes.\(idx).publicKey", reason: "\(error)")
        }
        guard FedCrypto.verify(signature: [UInt8](sig), message: signedBytes, publicKey: key.key) else {
            throw .signatureDoesNotVerify(node: node)
        }
    }

    /// Checks it as the aggregator receives it: ``verify(federation:)``, sent by `sender` for the attempt
    /// `round`/`session` now running.
    public func verify(federation: FederationFile, sender: String, round r: Int, session s: String) throws(Problem) {
        guard node == sender else { throw .mismatch(field: "node", found: node, expected: sender) }
        guard round == r else { throw .mismatch(field: "round", found: "\(round)", expected: "\(r) (the current round)") }
        guard session == s else { throw .mismatch(field: "session", found: String(session.prefix(8)), expected: String(s.prefix(8))) }
        try verify(federation: federation)
    }

    /// The request body (JSON, sorted keys).
    public var body: [UInt8] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? Array(enc.encode(self))) ?? []
    }

    /// Parses a request body (at most ``maxBodyBytes``; every field required).
    public init(body: [UInt8]) throws(Problem) {
        guard body.count <= Self.maxBodyBytes else {
            throw .malformed(field: "body", reason: "\(body.count) bytes, more than \(Self.maxBodyBytes)")
        }
        do { self = try JSONDecoder().decode(Self.self, from: Data(body)) } catch let DecodingError.keyNotFound(key, _) {
            throw .malformed(field: key.stringValue, reason: "missing")
        } catch let DecodingError.typeMismatch(_, c), let DecodingError.valueNotFound(_, c) {
            throw .malformed(field: c.codingPath.last?.stringValue ?? "body", reason: "wrong type")
        } catch {
            throw .malformed(field: "body", reason: "not a JSON privacy attestation")
        }
    }

    /// A field-wise initialiser (used by ``make(federation:node:round:session:key:)`` and tests).
    public init(node: String, federationFingerprint: String, round: Int, session: String, epsilon: Double, delta: Double,
                statement: String, signature: String) {
        self.node = node; self.federationFingerprint = federationFingerprint; self.round = round; self.session = session
        self.epsilon = epsilon; self.delta = delta; self.statement = statement; self.signature = signature
    }
}
