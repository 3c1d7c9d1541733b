import Foundation
import SecureAggregation

/// A node's or the aggregator's identity: an Ed25519 signing key with its minisign key id.
public struct IdentityKey: Sendable {
    /// The signing key (its seed is held in a zeroing buffer).
    public let signingKey: Identity.SigningKey
    /// The public half with its key id.
    public let publicKey: Minisign.PublicKey

    /// libsodium's 64-byte secret key layout (seed || public key), as minisign stores it.
    var secretBytes: [UInt8] { signingKey.exportSeed() + publicKey.key }

    private init(signingKey: Identity.SigningKey, publicKey: Minisign.PublicKey) {
        self.signingKey = signingKey
        self.publicKey = publicKey
    }

    /// Rebuilds a key from minisign's 64-byte secret key; checks that its halves agree.
    init(keyID: [UInt8], secretKey: [UInt8]) throws(Minisign.FormatError) {
        guard secretKey.count == 64 else {
            throw Minisign.FormatError.badLength(what: "secret key", expected: 64, got: secretKey.count)
        }
        // A 32-byte seed is all libsodium needs; its only refusal is a wrong length.
        guard let signing = try? Identity.SigningKey(seed: Array(secretKey[0..<32])) else {
            throw Minisign.FormatError.badLength(what: "secret key seed", expected: 32, got: 32)
        }
        signingKey = signing
        guard constantTimeEqual(signingKey.publicKey.rawRepresentation, Array(secretKey[32..<64])) else {
            throw Minisign.FormatError.checksumMismatch
        }
        publicKey = try Minisign.PublicKey(keyID: keyID, key: signingKey.publicKey.rawRepresentation)
    }

    /// A fresh identity from the system's secure random source.
    static func generate() -> IdentityKey {
        let k = Identity.SigningKey()
        return IdentityKey(signingKey: k, publicKey: Minisign.PublicKey(randomKeyIDFor: k))
    }

    /// Ed25519 signature of `m`.
    func sign(_ m: [UInt8]) -> [UInt8] { signingKey.signature(for: m) }
}
