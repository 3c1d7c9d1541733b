import Foundation
import SecureAggregation

/// The federation layer's view of the cryptographic primitives (all from SecureAggregation's libsodium
/// wrapper): BLAKE2b digests, Ed25519 verification and secure random bytes.
enum FedCrypto {
    /// BLAKE2b-256 of `m`.
    static func blake2b256(_ m: [UInt8]) -> [UInt8] { try! BLAKE2b.hash(m, outputLength: 32) }
    /// BLAKE2b-512 of `m` (what minisign's prehashed signatures sign).
    static func blake2b512(_ m: [UInt8]) -> [UInt8] { try! BLAKE2b.hash(m, outputLength: 64) }
    /// Cryptographically secure random bytes.
    static func randomBytes(_ n: Int) -> [UInt8] { SecureRandom.bytes(n) }
    /// Ed25519 verification of a detached signature.
    static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard let k = try? Identity.PublicKey(rawRepresentation: publicKey) else { return false }
        return k.isValidSignature(signature, for: message)
    }
}

/// A node's or the aggregator's identity: an Ed25519 signing key with its minisign key id.
public struct IdentityKey: Sendable {
    /// The signing key (its seed is held in a zeroing buffer).
    public let signingKey: Identity.SigningKey
    /// The public half with its key id.
    public let publicKey: Minisign.PublicKey

    /// libsodium's 64-byte secret key layout (seed || public key), as minisign stores it.
    var secretBytes: [UInt8] { signingKey.exportSeed() + publicKey.key }

    /// Rebuilds a key from minisign's 64-byte secret key; checks that its halves agree.
    init(keyID: [UInt8], secretKey: [UInt8]) throws {
        guard secretKey.count == 64 else {
            throw Minisign.FormatError.badLength(what: "secret key", expected: 64, got: secretKey.count)
        }
        signingKey = try Identity.SigningKey(seed: Array(secretKey[0..<32]))
        guard constantTimeEqual(signingKey.publicKey.rawRepresentation, Array(secretKey[32..<64])) else {
            throw Minisign.FormatError.checksumMismatch
        }
        publicKey = try Minisign.PublicKey(keyID: keyID, key: signingKey.publicKey.rawRepresentation)
    }

    /// A fresh identity from the system's secure random source.
    static func generate() -> IdentityKey {
        let k = Identity.SigningKey()
        return try! IdentityKey(keyID: SecureRandom.bytes(8), secretKey: k.exportSeed() + k.publicKey.rawRepresentation)
    }

    /// Ed25519 signature of `m`.
    func sign(_ m: [UInt8]) -> [UInt8] { signingKey.signature(for: m) }
}

/// Errors of the federation layer; each names the file, argument or peer concerned.
public enum FederationError: Error, CustomStringConvertible {
    /// The ledger at `path` could not be opened, read, appended or verified.
    case ledger(path: String, problem: String)
    /// A file could not be read, written or parsed.
    case file(path: String, problem: String)
    /// An argument (CLI flag or field) is unusable.
    case invalidArgument(name: String, problem: String)
    /// A signed model of an older layout (`format`), refused rather than run with the wrong axis order.
    case outdatedModel(path: String, format: String)

    public var description: String {
        switch self {
        case let .ledger(p, pr): return "\(p): \(pr)"
        case let .file(p, pr): return "\(p): \(pr)"
        case let .invalidArgument(n, pr): return "\(n): \(pr)"
        case let .outdatedModel(p, f):
            return "\(p): model layout \(f) is refused: its network was trained on (k, j, i) tensors, while segviz now feeds "
                + "MONAI's (i, j, k) order, so its masks would be wrong; retrain it with this version (\(ModelArtifact.formatValue))"
        }
    }
}
