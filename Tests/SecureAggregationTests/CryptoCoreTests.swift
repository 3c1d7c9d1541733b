import Testing
@testable import SecureAggregation
import SecureAggregationTesting

/// Issue 12's crypto core: the hasher's state survives copies, the fixed-length hashes cannot
/// fail, Shamir reconstruction names forged shares, and one phase enum names the states.
@Suite struct CryptoCoreTests {
    /// RFC 7693 Appendix A: BLAKE2b-512("abc").
    static let abc512 = hex("ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
        + "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923")

    /// A copied hasher that is then updated gives the right digest, and so does the original:
    /// each owns its aligned state once written (copy on write), wherever the copies live.
    @Test func copiedHasherGivesTheRightDigest() throws {
        var a = BLAKE2b(.bytes64)
        a.update(Array("a".utf8))
        var copies: [BLAKE2b] = []
        for _ in 0 ..< 50 { copies.append(a) }  // copies move around in a growing array
        var b = copies[37]
        copies.removeAll()
        b.update(Array("bc".utf8))
        a.update(Array("b".utf8))
        var c = a  // a copy taken after a's own write
        a.update(Array("c".utf8))
        c.update(Array("x".utf8))
        #expect(b.finalize() == Self.abc512)
        #expect(a.finalize() == Self.abc512)
        #expect(c.finalize() != Self.abc512)
        #expect(BLAKE2b.hash(Array("abc".utf8), length: .bytes64) == Self.abc512)
        // The throwing API agrees, and still refuses bad lengths.
        #expect(try BLAKE2b.hash(Array("abc".utf8), outputLength: 64) == Self.abc512)
        #expect(throws: SecAggError.self) { try BLAKE2b(outputLength: 8) }
    }

    /// Keyed: RFC 7693's reference code's keyed self-test values are not in the RFC text, so the
    /// keyed hash is checked against the unkeyed streaming form of libsodium's own API instead:
    /// key sensitivity and agreement between the one-shot and streaming forms.
    @Test func keyedFixedLengthHash() {
        let key = SecretBytes([UInt8](repeating: 7, count: 32))
        var h = BLAKE2b(.bytes32, key: key)
        h.update(Array("ab".utf8))
        let copy = h
        h.update(Array("c".utf8))
        var k = copy
        k.update(Array("c".utf8))
        let d = BLAKE2b.hash(Array("abc".utf8), length: .bytes32, key: key)
        #expect(h.finalize() == d && k.finalize() == d)
        #expect(d != BLAKE2b.hash(Array("abc".utf8), length: .bytes32))
        #expect(d != BLAKE2b.hash(Array("abc".utf8), length: .bytes32, key: SecretBytes([UInt8](repeating: 8, count: 32))))
    }

    /// t + 1 shares, one forged: the forger is named wherever it stands; two forgers among t + 1
    /// cannot be singled out.
    @Test func reconstructionNamesTheForger() throws {
        var rng = SeededByteSource(seed: 5)
        let secret = rng.bytes(32)
        let shares = try Shamir.split(secret, threshold: 3, count: 5, using: &rng)
        let accept = { (s: [UInt8]) in s == secret }
        let tagged = shares.enumerated().map { (holder: UInt32($0.offset + 10), share: $0.element) }
        #expect(try Shamir.reconstruct(owner: 1, shares: tagged, threshold: 3, accept: accept) == secret)
        for bad in 0 ..< 5 {
            var forged = tagged
            forged[bad].share = Shamir.Share(x: forged[bad].share.x, value: [UInt8](repeating: 1, count: 32))
            #expect(throws: SecAggError.forgedShare(owner: 1, holders: [UInt32(bad + 10)])) {
                try Shamir.reconstruct(owner: 1, shares: forged, threshold: 3, accept: accept)
            }
        }
        var two = Array(tagged.prefix(4))
        for i in [0, 1] { two[i].share = Shamir.Share(x: two[i].share.x, value: [UInt8](repeating: UInt8(i), count: 32)) }
        #expect(throws: SecAggError.forgedShare(owner: 1, holders: [])) {
            try Shamir.reconstruct(owner: 1, shares: two, threshold: 3, accept: accept)
        }
        // Interpolation at a holder's x gives its share.
        #expect(try Shamir.interpolate(Array(shares.prefix(3)), at: shares[4].x) == shares[4].value)
    }

    @Test func oneProtocolPhaseNamesEveryState() throws {
        #expect(ProtocolPhase.allCases.map(\.rawValue) == ["AdvertiseKeys", "ShareKeys", "MaskedInput", "ConsistencyCheck",
                                                           "Unmasking", "Completed", "Aborted"])
        let f = try Fixture(n: 3, m: 8, seed: 2)
        let (client, _) = try SecAggClient.start(config: f.config, id: 0, identity: f.identities[0], update: f.updates[0],
                                                 random: SeededByteSource(seed: 3))
        #expect(client.state.phase == .advertiseKeys && client.state.name == "AdvertiseKeys")
        #expect(SecAggServer(config: f.config).state.phase == .advertiseKeys)
    }

    /// The mask expander refuses (precondition) a chunk larger than its buffers; within bounds it
    /// matches the one-stream expansion word for word.
    @Test func maskExpanderChunksMatchTheWholeStream() {
        let key = MaskKey(secret: SecretBytes([UInt8](repeating: 3, count: 32)))
        let whole = KeyDerivation.maskWords(key: key.secret, count: 3 * MaskExpander.chunkWords)
        var part = [UInt32](repeating: 0, count: MaskExpander.chunkWords)
        part.withUnsafeMutableBufferPointer { MaskExpander.words(key: key, chunk: 2, count: $0.count, into: $0.baseAddress!) }
        #expect(Array(whole[(2 * MaskExpander.chunkWords)...]) == part)
    }
}
