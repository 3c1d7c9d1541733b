import Foundation
import PropertyBased
import SecureAggregation
import Testing
@testable import Federation

/// Round trips of the federation's text formats and signed requests over random contents.
@Suite(.timeLimit(.minutes(5))) struct FormatPropertyTests {
    /// Random printable single-line text (the trusted-comment alphabet minisign allows), `n` characters.
    static func line(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.map { 0x20 + $0 % 0x5f }, as: UTF8.self)
    }

    @Test func minisignFilesRoundTrip() async {
        await propertyCheck(count: 200, input: Gen.uint8().array(of: 8), Gen.uint8().array(of: 64), Gen.uint8().array(of: 0 ... 120)) { (id, key, text) throws in
            let pk = try Minisign.PublicKey(keyID: id, key: Array(key[0..<32]))
            #expect(try Minisign.PublicKey(text: pk.fileText) == pk)
            #expect(try Minisign.PublicKey(text: pk.base64) == pk)
            let comment = Self.line(text).trimmingCharacters(in: .whitespaces)
            let sig = try Minisign.Signature(keyID: id, signature: key, trustedComment: comment,
                                             globalSignature: key.reversed(), untrustedComment: "comment \(comment)".trimmingCharacters(in: .whitespaces))
            #expect(try Minisign.Signature(text: sig.fileText) == sig)
            let sk = try Minisign.SecretKeyFile(keyID: id, secretKey: key)
            let back = try Minisign.SecretKeyFile(text: sk.fileText(blake2b256: FedCrypto.blake2b256), blake2b256: FedCrypto.blake2b256)
            #expect(back.keyID == id && back.secretKey == key)
        }
    }

    /// A corrupted secret-key checksum (any bit of it) is refused.
    @Test func secretKeyChecksumCatchesEveryBitFlip() async {
        await propertyCheck(count: 100, input: Gen.uint8().array(of: 64), Gen.int(in: 126 * 8 ..< 158 * 8)) { (key, bit) throws in
            let text = try Minisign.SecretKeyFile(keyID: Array(key[0..<8]), secretKey: key).fileText(blake2b256: FedCrypto.blake2b256)
            let payload = String(text.split(separator: "\n")[1])
            var b = [UInt8](try #require(Data(base64Encoded: payload)))
            b[bit / 8] ^= 1 << UInt8(bit % 8)
            #expect(throws: Minisign.FormatError.checksumMismatch) {
                try Minisign.SecretKeyFile(text: Data(b).base64EncodedString(), blake2b256: FedCrypto.blake2b256)
            }
        }
    }

    /// Signed requests verify exactly as sent, and any change of body, path or method is refused.
    @Test func signedRequestsRoundTrip() async throws {
        let dir = try temporaryDirectory()
        let f = try FederationSetup.create(keysDirectory: dir, name: "p", url: "http://127.0.0.1:9",
                                           nodes: [.init(id: "node-a", organs: ["liver"]), .init(id: "node-b", organs: ["spleen"])])
        let key = try KeyFiles.loadSecretKey(path: "\(dir)/node-a.key")
        let verifier = try RequestVerifier(federation: f)
        let audience = try RequestAuth.Audience(f)
        await propertyCheck(count: 100, input: Gen.uint8().array(of: 0 ... 300), Gen.uint8().array(of: 1 ... 40), Gen.int(in: 0 ... 2)) { (body, p, change) async throws in
            let path = "/v1/" + Self.line(p).replacingOccurrences(of: " ", with: "_")
            let h = RequestAuth.headers(audience: audience, method: "POST", path: path, body: body, node: "node-a", key: key, now: 1_000_000)
            let header: @Sendable (String) -> String? = { n in h.first { $0.0 == n }?.1 }
            #expect(try await verifier.authenticate(method: "POST", path: path, header: header, body: body, now: 1_000_100) == "node-a")
            var (m, q, b) = ("POST", path, body)
            switch change {
            case 0: b = body + [0]
            case 1: q = path + "x"
            default: m = "PUT"
            }
            await #expect(throws: RequestAuth.Rejection.self) {
                try await verifier.authenticate(method: m, path: q, header: header, body: b, now: 1_000_100)
            }
        }
    }
}
