import Foundation
import CSodium

// TEMPORARY adapter: replaced by SecureAggregation's Sodium wrapper when branch `sa` lands.
enum FedCrypto {
    static func blake2b256(_ m: [UInt8]) -> [UInt8] {
        _ = sodium_init()
        var out = [UInt8](repeating: 0, count: 32)
        crypto_generichash(&out, 32, m, UInt64(m.count), nil, 0)
        return out
    }
    static func randomBytes(_ n: Int) -> [UInt8] {
        _ = sodium_init()
        var b = [UInt8](repeating: 0, count: n)
        randombytes_buf(&b, n)
        return b
    }
    static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        _ = sodium_init()
        guard signature.count == 64, publicKey.count == 32 else { return false }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }
}

/// An identity signing key (Ed25519) with its minisign key id.
public struct IdentityKey: Sendable {
    let secret: [UInt8]
    /// The public half.
    public let publicKey: Minisign.PublicKey
    var secretBytes: [UInt8] { secret }
    init(keyID: [UInt8], secretKey: [UInt8]) throws {
        secret = secretKey
        publicKey = try Minisign.PublicKey(keyID: keyID, key: Array(secretKey[32..<64]))
    }
    static func generate() -> IdentityKey {
        _ = sodium_init()
        var pk = [UInt8](repeating: 0, count: 32), sk = [UInt8](repeating: 0, count: 64)
        crypto_sign_keypair(&pk, &sk)
        var id = [UInt8](repeating: 0, count: 8)
        randombytes_buf(&id, 8)
        return try! IdentityKey(keyID: id, secretKey: sk)
    }
    static func blake2b512(_ m: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 64)
        crypto_generichash(&out, 64, m, UInt64(m.count), nil, 0)
        return out
    }
    func sign(_ m: [UInt8]) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: 64)
        crypto_sign_detached(&sig, nil, m, UInt64(m.count), secret)
        return sig
    }
}

/// Errors of the federation layer; each names the file, peer or field concerned.
public enum FederationError: Error, CustomStringConvertible {
    case ledger(path: String, problem: String)
    case file(path: String, problem: String)
    case invalidArgument(name: String, problem: String)
    public var description: String {
        switch self {
        case let .ledger(p, pr): return "\(p): \(pr)"
        case let .file(p, pr): return "\(p): \(pr)"
        case let .invalidArgument(n, pr): return "\(n): \(pr)"
        }
    }
}
