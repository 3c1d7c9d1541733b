import Foundation
import SecureAggregation

/// minisign's file formats (public key, secret key, detached signature), byte for byte, so that
/// Debian's `minisign -Vm FILE -p KEY.pub` verifies SegViz's signatures and SegViz reads minisign's keys.
///
/// Formats (https://jedisct1.github.io/minisign/):
/// - public key: `untrusted comment: ...` line, then base64 of `"Ed"` + key id (8 bytes) + Ed25519 key (32).
/// - secret key: comment line, then base64 of `"Ed"` + kdf (`"\0\0"`: unencrypted, or `"Sc"`: scrypt)
///   + `"B2"` + salt (32) + opslimit (8) + memlimit (8) + key id (8) + secret key (64) + checksum (32),
///   the checksum being BLAKE2b-256 of `"Ed"` + key id + secret key.
/// - signature: comment line, base64 of `"ED"` (BLAKE2b-512 prehashed) + key id + signature (64),
///   `trusted comment: ...` line, then base64 of the global signature over signature (64) + trusted comment.
public enum Minisign {
    /// Errors from parsing minisign files; each names what is wrong.
    public enum FormatError: Error, Equatable, Sendable, CustomStringConvertible {
        case missingLine(String)
        case badBase64(String)
        case badLength(what: String, expected: Int, got: Int)
        case unsupportedAlgorithm(String)
        case encryptedSecretKey
        case checksumMismatch

        public var description: String {
            switch self {
            case .missingLine(let l): return "missing \(l) line"
            case .badBase64(let w): return "\(w) is not valid base64"
            case let .badLength(w, e, g): return "\(w) has \(g) bytes, expected \(e)"
            case .unsupportedAlgorithm(let a): return "unsupported signature algorithm '\(a)'"
            case .encryptedSecretKey:
                return "the secret key is password-protected (scrypt); SegViz reads only unencrypted keys (minisign -G -W)"
            case .checksumMismatch: return "secret key checksum does not match (corrupted key file)"
            }
        }
    }

    /// A minisign / SegViz identity public key: an 8-byte key id and a 32-byte Ed25519 key.
    public struct PublicKey: Equatable, Sendable {
        /// Random key id (little-endian on the wire), shown upper-case hex in comments.
        public var keyID: [UInt8]
        /// The Ed25519 public key.
        public var key: [UInt8]

        /// Creates a public key; lengths are checked.
        public init(keyID: [UInt8], key: [UInt8]) throws(FormatError) {
            guard keyID.count == 8 else { throw FormatError.badLength(what: "key id", expected: 8, got: keyID.count) }
            guard key.count == 32 else { throw FormatError.badLength(what: "public key", expected: 32, got: key.count) }
            self.keyID = keyID
            self.key = key
        }

        /// A fresh key's public half: a random 8-byte key id and the signing key's public key (lengths
        /// fixed by construction, so nothing to check).
        init(randomKeyIDFor signing: Identity.SigningKey) {
            keyID = FedCrypto.randomBytes(8)
            key = signing.publicKey.rawRepresentation
        }

        /// The key id as minisign prints it (upper-case hex of the little-endian 64-bit number).
        public var keyIDHex: String { keyID.reversed().map { String(format: "%02X", $0) }.joined() }

        /// The base64 payload line (`Ed` + key id + key).
        public var base64: String { Data(Array("Ed".utf8) + keyID + key).base64EncodedString() }

        /// The whole `.pub` file text.
        public var fileText: String {
            "untrusted comment: minisign public key \(keyIDHex)\n\(base64)\n"
        }

        /// Parses either a whole `.pub` file or its bare base64 line.
        public init(text: String) throws(FormatError) {
            let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
            let payload = lines.first(where: { !$0.hasPrefix("untrusted comment:") })
            guard let payload else { throw FormatError.missingLine("public key") }
            guard let data = Data(base64Encoded: payload) else { throw FormatError.badBase64("public key") }
            let b = [UInt8](data)
            guard b.count == 42 else { throw FormatError.badLength(what: "public key", expected: 42, got: b.count) }
            guard b[0] == UInt8(ascii: "E"), b[1] == UInt8(ascii: "d") else {
                throw FormatError.unsupportedAlgorithm(String(decoding: b[0..<2], as: UTF8.self))
            }
            try self.init(keyID: Array(b[2..<10]), key: Array(b[10..<42]))
        }
    }

    /// The fields of an unencrypted minisign secret key file (the 64-byte Ed25519 secret key holds the seed
    /// and the public key).
    public struct SecretKeyFile: Sendable {
        /// Key id shared with the public key.
        public var keyID: [UInt8]
        /// libsodium's 64-byte Ed25519 secret key (seed || public key).
        public var secretKey: [UInt8]

        /// Creates the record; lengths are checked.
        public init(keyID: [UInt8], secretKey: [UInt8]) throws(FormatError) {
            guard keyID.count == 8 else { throw FormatError.badLength(what: "key id", expected: 8, got: keyID.count) }
            guard secretKey.count == 64 else {
                throw FormatError.badLength(what: "secret key", expected: 64, got: secretKey.count)
            }
            self.keyID = keyID
            self.secretKey = secretKey
        }

        /// The bytes the checksum covers: `Ed` + key id + secret key.
        var checksummed: [UInt8] { Array("Ed".utf8) + keyID + secretKey }

        /// The whole file text, given `blake2b256` to compute the checksum.
        public func fileText(blake2b256: ([UInt8]) -> [UInt8]) -> String {
            var b = Array("Ed".utf8) + [0, 0] + Array("B2".utf8)
            b += [UInt8](repeating: 0, count: 32 + 8 + 8)
            b += keyID + secretKey + blake2b256(checksummed)
            defer { wipe(&b) }
            return "untrusted comment: segviz secret key (unencrypted; keep this file private, mode 0600)\n"
                + Data(b).base64EncodedString() + "\n"
        }

        /// Parses a file's text and checks its checksum with `blake2b256`.
        public init(text: String, blake2b256: ([UInt8]) -> [UInt8]) throws(FormatError) {
            let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("untrusted comment:") }
            guard let payload = lines.first else { throw FormatError.missingLine("secret key") }
            guard var data = Data(base64Encoded: payload) else { throw FormatError.badBase64("secret key") }
            var b = [UInt8](data)
            data.resetBytes(in: 0..<data.count)
            defer { wipe(&b) }
            guard b.count == 158 else { throw FormatError.badLength(what: "secret key file", expected: 158, got: b.count) }
            guard b[0] == UInt8(ascii: "E"), b[1] == UInt8(ascii: "d") else {
                throw FormatError.unsupportedAlgorithm(String(decoding: b[0..<2], as: UTF8.self))
            }
            guard b[2] == 0, b[3] == 0 else { throw FormatError.encryptedSecretKey }
            try self.init(keyID: Array(b[54..<62]), secretKey: Array(b[62..<126]))
            // The checksum is a hash of the secret key: compared in constant time.
            guard constantTimeEqual(blake2b256(checksummed), Array(b[126..<158])) else { throw FormatError.checksumMismatch }
        }
    }

    /// A detached minisign signature (`.minisig`), prehashed (`ED`: Ed25519 over BLAKE2b-512 of the file).
    public struct Signature: Equatable, Sendable {
        /// Key id of the signer.
        public var keyID: [UInt8]
        /// Ed25519 signature of BLAKE2b-512(file).
        public var signature: [UInt8]
        /// The trusted comment (covered by `globalSignature`); SegViz puts the artifact's manifest digest here.
        public var trustedComment: String
        /// Ed25519 signature of `signature` + UTF-8 `trustedComment`.
        public var globalSignature: [UInt8]
        /// The untrusted comment line's text.
        public var untrustedComment: String

        /// Creates a signature record; lengths are checked.
        public init(keyID: [UInt8], signature: [UInt8], trustedComment: String, globalSignature: [UInt8],
                    untrustedComment: String = "signature from segviz aggregator key") throws(FormatError) {
            guard keyID.count == 8 else { throw FormatError.badLength(what: "key id", expected: 8, got: keyID.count) }
            guard signature.count == 64 else {
                throw FormatError.badLength(what: "signature", expected: 64, got: signature.count)
            }
            guard globalSignature.count == 64 else {
                throw FormatError.badLength(what: "global signature", expected: 64, got: globalSignature.count)
            }
            guard !trustedComment.contains(where: \.isNewline) else {
                throw FormatError.missingLine("single-line trusted comment")
            }
            self.keyID = keyID
            self.signature = signature
            self.trustedComment = trustedComment
            self.globalSignature = globalSignature
            self.untrustedComment = untrustedComment
        }

        /// Bytes the global signature covers.
        public var globalSignedBytes: [UInt8] { signature + Array(trustedComment.utf8) }

        /// The whole `.minisig` file text.
        public var fileText: String {
            "untrusted comment: \(untrustedComment)\n"
                + Data(Array("ED".utf8) + keyID + signature).base64EncodedString() + "\n"
                + "trusted comment: \(trustedComment)\n"
                + Data(globalSignature).base64EncodedString() + "\n"
        }

        /// Parses a `.minisig` file's text.
        public init(text: String) throws(FormatError) {
            let lines = text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline).map(String.init)
            guard lines.count >= 4 else { throw FormatError.missingLine(lines.count < 2 ? "signature" : "trusted comment") }
            guard lines[0].hasPrefix("untrusted comment:") else { throw FormatError.missingLine("untrusted comment") }
            guard let sigData = Data(base64Encoded: lines[1].trimmingCharacters(in: .whitespaces)) else {
                throw FormatError.badBase64("signature")
            }
            let s = [UInt8](sigData)
            guard s.count == 74 else { throw FormatError.badLength(what: "signature", expected: 74, got: s.count) }
            let alg = String(decoding: s[0..<2], as: UTF8.self)
            guard alg == "ED" else { throw FormatError.unsupportedAlgorithm(alg) }
            let prefix = "trusted comment: "
            guard lines[2].hasPrefix(prefix) else { throw FormatError.missingLine("trusted comment") }
            guard let g = Data(base64Encoded: lines[3].trimmingCharacters(in: .whitespaces)) else {
                throw FormatError.badBase64("global signature")
            }
            try self.init(keyID: Array(s[2..<10]), signature: Array(s[10..<74]),
                          trustedComment: String(lines[2].dropFirst(prefix.count)), globalSignature: [UInt8](g),
                          untrustedComment: String(lines[0].dropFirst("untrusted comment:".count))
                            .trimmingCharacters(in: .whitespaces))
        }
    }
}

/// A secret key file's record prints its key id only, never the key (`print`, interpolation, `dump`).
extension Minisign.SecretKeyFile: CustomStringConvertible, CustomReflectable {
    public var description: String {
        "SecretKeyFile(key id \(keyID.reversed().map { String(format: "%02X", $0) }.joined()), secret key redacted)"
    }
    public var customMirror: Mirror { Mirror(self, children: ["keyID": keyID], displayStyle: .struct) }
}
