import PropertyBased
import Testing
@testable import SecureAggregation
import SecureAggregationTesting

/// Sample messages of every kind, with contents drawn from `rng`.
func sampleMessages(_ rng: inout SeededByteSource, users: Int, words: Int) -> (client: [ClientMessage], server: [ServerMessage]) {
    let round = UInt64(rng.bytes(1)[0])
    func key() -> KeyAgreement.PublicKey { try! KeyAgreement.PublicKey(rawRepresentation: rng.bytes(32)) }
    let ids = (0 ..< UInt32(users)).map { $0 * 3 + 1 }
    let ad = AdvertiseKeysMessage(round: round, sender: 7, encryptionKey: key(), maskingKey: key(), seedCommitment: rng.bytes(32), signature: rng.bytes(64))
    let shares = ids.map { EncryptedShare(peer: $0, nonce: rng.bytes(24), ciphertext: rng.bytes(80)) }
    let revealed = ids.map { RevealedShare(owner: $0, value: rng.bytes(32)) }
    let wordBytes = rng.bytes(4 * words)
    var r = ByteReader(wordBytes, message: "w")
    let w = (0 ..< words).map { _ in try! r.u32() }
    let client: [ClientMessage] = [
        .advertiseKeys(ad),
        .shareKeys(ShareKeysMessage(round: round, sender: 2, shares: shares)),
        .maskedInput(MaskedInputMessage(round: round, sender: 3, words: w)),
        .consistencySignature(ConsistencySignatureMessage(round: round, sender: 4, signature: rng.bytes(64))),
        .unmaskingResponse(UnmaskingResponseMessage(round: round, sender: 5, selfMaskShares: revealed, keyShares: Array(revealed.prefix(users / 2)))),
    ]
    let ads = ids.map { AdvertiseKeysMessage(round: round, sender: $0, encryptionKey: key(), maskingKey: key(), seedCommitment: rng.bytes(32), signature: rng.bytes(64)) }
    let server: [ServerMessage] = [
        .keyList(KeyListMessage(round: round, advertisements: ads)),
        .shareBundle(ShareBundleMessage(round: round, receiver: 9, shares: shares)),
        .consistencyRequest(ConsistencyRequestMessage(round: round, survivors: ids)),
        .unmaskingRequest(UnmaskingRequestMessage(round: round, dropped: Array(ids.prefix(users / 3)),
                                                  signatures: ids.map { SurvivorSignature(user: $0, signature: rng.bytes(64)) })),
        .roundFinished(RoundFinishedMessage(round: round, completed: users % 2 == 0, reason: "reason \(users) ✓")),
    ]
    return (client, server)
}

@Suite struct CodecTests {
    @Test func roundTripsProperty() async {
        await propertyCheck(count: 100, input: Gen.uint64(in: 0 ... 1_000_000_000), Gen.int(in: 0 ... 40), Gen.int(in: 0 ... 300)) { (seed, users, words) throws in
            var rng = SeededByteSource(seed: seed)
            let (client, server) = sampleMessages(&rng, users: users, words: words)
            for m in client { #expect(try ClientMessage.decode(m.encode()) == m) }
            for m in server { #expect(try ServerMessage.decode(m.encode()) == m) }
        }
    }

    /// Every proper prefix is refused as truncated, one more byte as oversized.
    @Test func truncatedAndOversizedAreRefused() throws {
        var rng = SeededByteSource(seed: 2)
        let (client, server) = sampleMessages(&rng, users: 3, words: 5)
        let encodings = client.map { $0.encode() } + server.map { $0.encode() }
        for (k, bytes) in encodings.enumerated() {
            let decode: ([UInt8]) throws -> Void = k < client.count ? { _ = try ClientMessage.decode($0) } : { _ = try ServerMessage.decode($0) }
            for cut in 0 ..< bytes.count {
                #expect { try decode(Array(bytes.prefix(cut))) } throws: { e in
                    if case .truncated = e as? SecAggError { return true }
                    return false
                }
            }
            #expect { try decode(bytes + [0]) } throws: { e in
                if case .oversized = e as? SecAggError { return true }
                return false
            }
        }
    }

    @Test func headerAndFieldErrors() throws {
        var rng = SeededByteSource(seed: 3)
        let (client, server) = sampleMessages(&rng, users: 4, words: 2)
        var bytes = client[2].encode()
        bytes[0] = 3
        #expect(throws: SecAggError.unsupportedVersion(3)) { try ClientMessage.decode(bytes) }
        bytes = client[2].encode()
        bytes[1] = 42
        #expect(throws: SecAggError.unknownMessageType(42)) { try ClientMessage.decode(bytes) }
        // A server message is not a client message, and each typed decoder checks its type.
        #expect(throws: SecAggError.unknownMessageType(6)) { try ClientMessage.decode(server[0].encode()) }
        #expect(throws: SecAggError.unknownMessageType(3)) { try ShareKeysMessage.decode(client[2].encode()) }
        // A count far beyond the limit is refused before anything is allocated.
        var huge = ByteWriter()
        huge.u8(WireFormat.version); huge.u8(3); huge.u64(0); huge.u32(0); huge.u32(UInt32.max)
        #expect { try MaskedInputMessage.decode(huge.data) } throws: { e in
            if case .oversized = e as? SecAggError { return true }
            return false
        }
        var lying = ByteWriter()
        lying.u8(WireFormat.version); lying.u8(3); lying.u64(0); lying.u32(0); lying.u32(1000); lying.u32(1)
        #expect { try MaskedInputMessage.decode(lying.data) } throws: { e in
            if case .truncated = e as? SecAggError { return true }
            return false
        }
        // Unsorted or repeated ids are malformed (so one sender cannot appear twice).
        let dup = ConsistencyRequestMessage(round: 1, survivors: [1, 3, 3]).encode()
        #expect { try ConsistencyRequestMessage.decode(dup) } throws: { e in
            if case .malformed = e as? SecAggError { return true }
            return false
        }
        let unsorted = ShareKeysMessage(round: 1, sender: 0, shares: [
            EncryptedShare(peer: 5, nonce: rng.bytes(24), ciphertext: rng.bytes(80)),
            EncryptedShare(peer: 2, nonce: rng.bytes(24), ciphertext: rng.bytes(80)),
        ]).encode()
        #expect { try ShareKeysMessage.decode(unsorted) } throws: { e in
            if case .malformed = e as? SecAggError { return true }
            return false
        }
        var badFlag = RoundFinishedMessage(round: 1, completed: true, reason: "").encode()
        badFlag[10] = 2
        #expect { try RoundFinishedMessage.decode(badFlag) } throws: { e in
            if case .malformed = e as? SecAggError { return true }
            return false
        }
    }

    /// Arbitrary bytes never crash a decoder: they decode or throw a SecAggError.
    @Test func randomBytesNeverCrashTheDecoders() async {
        await propertyCheck(count: 300, input: Gen.uint8().array(of: 0 ... 200), Gen.uint8(in: 1 ... 10)) { raw, type in
            var bytes = raw
            if bytes.count >= 2 {
                bytes[0] = 1
                bytes[1] = type
            }
            do { _ = try ClientMessage.decode(bytes) } catch is SecAggError {} catch { Issue.record("\(error)") }
            do { _ = try ServerMessage.decode(bytes) } catch is SecAggError {} catch { Issue.record("\(error)") }
        }
    }
}
