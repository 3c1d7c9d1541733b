import Foundation
import Testing
@testable import SecureAggregation
import SecureAggregationTesting

struct Vectors: Decodable {
    struct X25519: Decodable { let comment: String; let scalar: String; let u: String; let shared: String?; let result: String }
    struct Ed25519: Decodable { let comment: String; let seed: String; let `public`: String; let message: String; let signature: String; let result: String }
    struct ChaCha: Decodable { let comment: String; let key: String; let nonce: String; let counter: UInt32; let plaintext: String; let ciphertext: String; let result: String }
    struct Blake: Decodable { let message: String; let key: String; let outputLength: Int; let digest: String }
    let x25519: [X25519]
    let ed25519: [Ed25519]
    let ed25519ph: [Ed25519]
    let chacha20ietf: [ChaCha]
    let blake2b: [Blake]

    static let shared: Vectors = {
        let url = Bundle.module.url(forResource: "primitives", withExtension: "json", subdirectory: "Vectors")!
        return try! JSONDecoder().decode(Vectors.self, from: Data(contentsOf: url))
    }()
}

@Suite struct PrimitiveVectorTests {
    @Test func x25519RFC7748() throws {
        var valid = 0, lowOrder = 0, badLength = 0
        for v in Vectors.shared.x25519 {
            switch v.result {
            case "valid":
                let key = try KeyAgreement.PrivateKey(rawRepresentation: hex(v.scalar))
                let shared = try key.sharedSecret(with: KeyAgreement.PublicKey(rawRepresentation: hex(v.u)))
                #expect(hexDigits(shared.exportBytes()) == v.shared, "\(v.comment)")
                valid += 1
            case "lowOrder":
                let key = try KeyAgreement.PrivateKey(rawRepresentation: hex(v.scalar))
                #expect(throws: SecAggError.keyAgreementFailed, "\(v.comment)") {
                    try key.sharedSecret(with: KeyAgreement.PublicKey(rawRepresentation: hex(v.u)))
                }
                lowOrder += 1
            default:
                #expect(v.result == "invalidLength")
                #expect(throws: SecAggError.self, "\(v.comment)") {
                    let key = try KeyAgreement.PrivateKey(rawRepresentation: hex(v.scalar))
                    _ = try key.sharedSecret(with: KeyAgreement.PublicKey(rawRepresentation: hex(v.u)))
                }
                badLength += 1
            }
        }
        #expect(valid == 5 && lowOrder == 3 && badLength == 2)
        // RFC 7748 6.1: public keys from private keys.
        let alice = try KeyAgreement.PrivateKey(rawRepresentation: hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
        #expect(hexDigits(alice.publicKey.rawRepresentation) == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    }

    @Test func ed25519RFC8032() throws {
        var valid = 0, invalid = 0, badLength = 0
        for v in Vectors.shared.ed25519 {
            if v.result == "invalidLength" {
                #expect(throws: SecAggError.self, "\(v.comment)") {
                    _ = try Identity.SigningKey(seed: hex(v.seed))
                    _ = try Identity.PublicKey(rawRepresentation: hex(v.public))
                }
                badLength += 1
                continue
            }
            let key = try Identity.SigningKey(seed: hex(v.seed))
            let pk = try Identity.PublicKey(rawRepresentation: hex(v.public))
            let ok = pk.isValidSignature(hex(v.signature), for: hex(v.message))
            if v.result == "valid" {
                #expect(key.publicKey == pk, "\(v.comment)")
                #expect(hexDigits(key.signature(for: hex(v.message))) == v.signature, "\(v.comment)")
                #expect(ok, "\(v.comment)")
                valid += 1
            } else {
                #expect(!ok, "\(v.comment)")
                invalid += 1
            }
        }
        #expect(valid == 3 && invalid == 7 && badLength == 2)
    }

    @Test func ed25519phRFC8032() throws {
        for v in Vectors.shared.ed25519ph {
            let key = try Identity.SigningKey(seed: hex(v.seed))
            #expect(hexDigits(key.publicKey.rawRepresentation) == v.public)
            let message = hex(v.message)
            let sig = key.prehashSignature(streaming: [Array(message.prefix(1)), Array(message.dropFirst())])
            #expect(hexDigits(sig) == v.signature, "\(v.comment)")
            #expect(key.publicKey.isValidPrehashSignature(sig, for: [message]))
            #expect(!key.publicKey.isValidPrehashSignature(sig, for: [message + [0]]))
            // Ed25519ph and pure Ed25519 signatures are not interchangeable.
            #expect(!key.publicKey.isValidSignature(sig, for: message))
        }
    }

    @Test func chacha20RFC8439() throws {
        var checked = 0
        for v in Vectors.shared.chacha20ietf {
            if v.result == "invalidLength" {
                #expect(throws: SecAggError.self, "\(v.comment)") {
                    _ = try ChaCha20.xor(hex(v.plaintext), key: hex(v.key), nonce: hex(v.nonce), counter: v.counter)
                }
                continue
            }
            let out = try ChaCha20.xor(hex(v.plaintext), key: hex(v.key), nonce: hex(v.nonce), counter: v.counter)
            #expect(hexDigits(out) == v.ciphertext, "\(v.comment)")
            checked += 1
        }
        #expect(checked == 3)
    }

    @Test func blake2bVectorsAndStreaming() throws {
        for v in Vectors.shared.blake2b {
            let msg = hex(v.message)
            #expect(hexDigits(try BLAKE2b.hash(msg, outputLength: v.outputLength, key: hex(v.key))) == v.digest)
            var h = try BLAKE2b(outputLength: v.outputLength, key: hex(v.key))
            var i = 0
            while i < msg.count {
                let j = min(msg.count, i + 1 + i % 37)
                h.update(Array(msg[i ..< j]))
                i = j
            }
            #expect(hexDigits(h.finalize()) == v.digest)
        }
        #expect(throws: SecAggError.self) { _ = try BLAKE2b(outputLength: 65) }
        #expect(throws: SecAggError.self) { _ = try BLAKE2b(outputLength: 15) }
        #expect(throws: SecAggError.self) { _ = try BLAKE2b(key: [UInt8](repeating: 1, count: 65)) }
    }

    /// minisign's prehashed mode: plain Ed25519 over BLAKE2b-512 of the file, streamed.
    @Test func signLargeMessageAndMinisignPrehash() throws {
        var rng = SeededByteSource(seed: 5)
        let key = Identity.SigningKey(using: &rng)
        let big = rng.bytes(3 << 20)
        let sig = key.signature(for: big)
        #expect(key.publicKey.isValidSignature(sig, for: big))
        var tampered = big
        tampered[big.count / 2] ^= 1
        #expect(!key.publicKey.isValidSignature(sig, for: tampered))
        var h = try BLAKE2b(outputLength: 64)
        for start in stride(from: 0, to: big.count, by: 1 << 16) { h.update(Array(big[start ..< min(big.count, start + (1 << 16))])) }
        let digest = h.finalize()
        #expect(digest == (try BLAKE2b.hash(big, outputLength: 64)))
        let prehashed = key.signature(for: digest)
        #expect(key.publicKey.isValidSignature(prehashed, for: digest))
        // Export / import of the identity keeps it.
        let again = try Identity.SigningKey(seed: key.exportSeed())
        #expect(again.publicKey == key.publicKey)
        #expect(again.signature(for: digest) == prehashed)
    }

    @Test func secretsAndRandomness() throws {
        #expect(constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEqual([1, 2, 3], [1, 2]))
        #expect(SecretBytes([9, 9]) == SecretBytes([9, 9]))
        #expect(SecretBytes([9, 9]) != SecretBytes([9, 8]))
        let a = SecureRandom.bytes(32), b = SecureRandom.bytes(32)
        #expect(a != b && a.count == 32)
        #expect(try SecureRandom.deterministicBytes(64, seed: [UInt8](repeating: 3, count: 32))
            == (try SecureRandom.deterministicBytes(64, seed: [UInt8](repeating: 3, count: 32))))
        var s1 = SeededByteSource(seed: 1), s2 = SeededByteSource(seed: 1), s3 = SeededByteSource(seed: 2)
        let x = s1.bytes(100)
        #expect(x == s2.bytes(100) && x != s3.bytes(100))
        var k = SeededByteSource(seed: 4)
        let priv = KeyAgreement.PrivateKey(using: &k)
        let imported = try KeyAgreement.PrivateKey(rawRepresentation: priv.exportRawRepresentation())
        #expect(imported.publicKey == priv.publicKey)
    }

    @Test func aeadBindsAssociatedData() throws {
        let key = SecretBytes([UInt8](repeating: 7, count: 32))
        let nonce = [UInt8](repeating: 1, count: 24)
        let ct = try AEAD.seal([1, 2, 3], key: key, nonce: nonce, associatedData: [0, 1])
        #expect(try AEAD.open(ct, key: key, nonce: nonce, associatedData: [0, 1]) == [1, 2, 3])
        #expect(throws: SecAggError.decryptionFailed) { try AEAD.open(ct, key: key, nonce: nonce, associatedData: [0, 2]) }
        var bad = ct
        bad[0] ^= 1
        #expect(throws: SecAggError.decryptionFailed) { try AEAD.open(bad, key: key, nonce: nonce, associatedData: [0, 1]) }
        #expect(throws: SecAggError.decryptionFailed) {
            try AEAD.open(ct, key: SecretBytes([UInt8](repeating: 8, count: 32)), nonce: nonce, associatedData: [0, 1])
        }
    }
}
