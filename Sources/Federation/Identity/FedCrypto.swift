import SecureAggregation

/// The federation layer's view of the cryptographic primitives (all from SecureAggregation's libsodium
/// wrapper): BLAKE2b digests, Ed25519 verification and secure random bytes.
enum FedCrypto {
    /// BLAKE2b-256 of `m`.
    static func blake2b256(_ m: [UInt8]) -> [UInt8] { BLAKE2b.hash(m, length: .bytes32) }
    /// BLAKE2b-512 of `m` (what minisign's prehashed signatures sign).
    static func blake2b512(_ m: [UInt8]) -> [UInt8] { BLAKE2b.hash(m, length: .bytes64) }
    /// Cryptographically secure random bytes.
    static func randomBytes(_ n: Int) -> [UInt8] { SecureRandom.bytes(n) }
    /// Ed25519 verification of a detached signature.
    static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard let k = try? Identity.PublicKey(rawRepresentation: publicKey) else { return false }
        return k.isValidSignature(signature, for: message)
    }
}
