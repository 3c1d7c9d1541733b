import Foundation
import Tensor

/// Detached signatures of model artifacts in minisign's format (`FILE.minisig` beside `FILE`).
///
/// The signature is Ed25519 over BLAKE2b-512 of the whole file (minisign's prehashed `ED` mode), and the
/// trusted comment, covered by a second signature, records what the file is. `minisign -Vm FILE -p KEY.pub`
/// verifies these files too.
public enum ModelSignature {
    /// Path of the detached signature for `path`.
    public static func signaturePath(for path: String) -> String { path + ".minisig" }

    /// Signs `fileBytes` with `key`; returns the signature record.
    public static func sign(fileBytes: [UInt8], key: IdentityKey, trustedComment: String) throws -> Minisign.Signature {
        let sig = key.sign(FedCrypto.blake2b512(fileBytes))
        let global = key.sign(sig + Array(trustedComment.utf8))
        return try Minisign.Signature(keyID: key.publicKey.keyID, signature: sig, trustedComment: trustedComment,
                                      globalSignature: global)
    }

    /// Signs the file at `path` and writes `path.minisig` atomically.
    @discardableResult
    public static func signFile(path: String, key: IdentityKey, trustedComment: String) throws -> Minisign.Signature {
        let bytes = try readBytes(path)
        let s = try sign(fileBytes: bytes, key: key, trustedComment: trustedComment)
        try AtomicFile.write(path: signaturePath(for: path), contents: Data(s.fileText.utf8))
        return s
    }

    /// Why a verification failed; each case names the file (or the model as the caller calls it).
    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        case missingSignature(path: String)
        /// The signature file is not UTF-8 text.
        case unreadableSignature(path: String)
        case malformedSignature(path: String, problem: Minisign.FormatError)
        /// `path` was signed by key id `found`, not by the expected `expected` (minisign's upper-case hex ids).
        case wrongKey(path: String, expected: String, found: String)
        case badSignature(path: String)
        case badTrustedComment(path: String)

        public var description: String {
            switch self {
            case .missingSignature(let p): return "\(p): signature file is missing"
            case .unreadableSignature(let p): return "\(p): signature file is not readable as text"
            case let .malformedSignature(p, pr): return "\(p): malformed signature: \(pr)"
            case let .wrongKey(p, e, f):
                return "\(p): signed by key \(f), not by the expected key \(e) (check the aggregator's public key in the federation file)"
            case .badSignature(let p): return "\(p): signature does not match the file (modified or corrupted)"
            case .badTrustedComment(let p): return "\(p): trusted comment was altered"
            }
        }
    }

    /// Verifies `fileBytes` against a signature record and `publicKey`; returns the trusted comment.
    public static func verify(fileBytes: [UInt8], signature s: Minisign.Signature, publicKey: Minisign.PublicKey,
                              path: String = "model") throws(Failure) -> String {
        guard s.keyID == publicKey.keyID else {
            throw Failure.wrongKey(path: path, expected: publicKey.keyIDHex,
                                   found: (try? Minisign.PublicKey(keyID: s.keyID, key: publicKey.key).keyIDHex) ?? "?")
        }
        guard FedCrypto.verify(signature: s.signature, message: FedCrypto.blake2b512(fileBytes),
                               publicKey: publicKey.key) else { throw Failure.badSignature(path: path) }
        guard FedCrypto.verify(signature: s.globalSignature, message: s.globalSignedBytes, publicKey: publicKey.key) else {
            throw Failure.badTrustedComment(path: path)
        }
        return s.trustedComment
    }

    /// Verifies the file at `path` against `path.minisig` and `publicKey`; returns the file's bytes and the
    /// trusted comment. Nothing is returned unless the signature verifies.
    public static func verifyFile(path: String, publicKey: Minisign.PublicKey) throws -> (bytes: [UInt8], trustedComment: String) {
        let sigPath = signaturePath(for: path)
        guard FileManager.default.fileExists(atPath: sigPath) else { throw Failure.missingSignature(path: sigPath) }
        let text: String
        do { text = try String(contentsOfFile: sigPath, encoding: .utf8) } catch {
            throw Failure.unreadableSignature(path: sigPath)
        }
        let s: Minisign.Signature
        do throws(Minisign.FormatError) { s = try Minisign.Signature(text: text) } catch {
            throw Failure.malformedSignature(path: sigPath, problem: error)
        }
        let bytes = try readBytes(path)
        return (bytes, try verify(fileBytes: bytes, signature: s, publicKey: publicKey, path: path))
    }

    static func readBytes(_ path: String) throws(FederationError) -> [UInt8] {
        do { return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw FederationError.unreadable(path: path, kind: .model, reason: error.localizedDescription)
        }
    }
}
