import Testing
@testable import SecureAggregation
import SecureAggregationTesting

/// A lying server, forged or missing signatures, replays and messages from another round.
@Suite struct AdversaryTests {
    /// The server lists a survivor as dropped (asking for its key share while it also gets its
    /// self-mask share): every client refuses and reveals nothing.
    @Test func askingForBothSharesOfOneUserIsRefused() throws {
        let f = try Fixture(n: 6, m: 40, seed: 3)
        var net = try f.network()
        net.tamper = { o in
            guard case let .unmaskingRequest(m) = o.message else { return [o] }
            return [Outgoing(recipient: o.recipient, message: .unmaskingRequest(
                UnmaskingRequestMessage(round: m.round, dropped: [2], signatures: m.signatures)))]
        }
        #expect(net.run() == nil)
        for u in 0 ..< 6 {
            #expect(net.clientErrors[UInt32(u)] == [.conflictingShareRequest(user: 2)])
            #expect(net.clients[u]?.abortReason != nil)
        }
        #expect(!net.serverView.contains { if case .unmaskingResponse = $0 { return true } else { return false } })
        #expect(net.server.abortReason?.contains("Unmasking") == true)
    }

    /// Different survivor lists to different clients: the signatures do not match and the
    /// clients shown a different U3 refuse to reveal anything.
    @Test func splitSurvivorListIsCaughtByTheConsistencyCheck() throws {
        let f = try Fixture(n: 7, m: 40, seed: 4)
        var net = try f.network()
        let victims: Set<UInt32> = [0, 1]
        net.tamper = { o in
            // The lying server still asks the victims to unmask (with the honest users' signatures).
            if o.recipient == 6, case .unmaskingRequest = o.message {
                return [o] + victims.map { Outgoing(recipient: $0, message: o.message) }
            }
            guard victims.contains(o.recipient), case let .consistencyRequest(m) = o.message else { return [o] }
            return [Outgoing(recipient: o.recipient, message: .consistencyRequest(
                ConsistencyRequestMessage(round: m.round, survivors: m.survivors.filter { $0 != 5 })))]
        }
        let result = net.run()
        // The server itself refuses the victims' signatures (they signed another U3) ...
        #expect(net.serverErrors.filter { if case .invalidSignature = $0.1 { return true } else { return false } }.count == 2)
        // ... and the victims refuse the honest users' signatures on the true U3.
        for v in victims {
            #expect(net.clientErrors[v]?.first.map { if case .invalidSignature = $0 { return true } else { return false } } == true)
            #expect(!net.serverView.contains { if case let .unmaskingResponse(m) = $0 { return m.sender == v } else { return false } })
        }
        // The 5 honest users are enough (t = 5): the round completes with everyone's inputs.
        f.check(result, survivors: (0 ..< 7).map { $0 })
    }

    @Test func forgedOrMissingAdvertisementSignatureIsRefusedByTheServer() throws {
        let f = try Fixture(n: 5, m: 16, seed: 6)
        var net = try f.network()
        net.deliverToServer = { u, m in
            guard u == 4, case let .advertiseKeys(a) = m else { return [m] }
            var forged = a.signature
            forged[10] ^= 0x40
            let missing = [UInt8](repeating: 0, count: 64)
            return [.advertiseKeys(AdvertiseKeysMessage(round: a.round, sender: 4, encryptionKey: a.encryptionKey, maskingKey: a.maskingKey, seedCommitment: a.seedCommitment, signature: forged)),
                    .advertiseKeys(AdvertiseKeysMessage(round: a.round, sender: 4, encryptionKey: a.encryptionKey, maskingKey: a.maskingKey, seedCommitment: a.seedCommitment, signature: missing))]
        }
        let result = net.run()
        #expect(net.serverErrors.map(\.1) == [.invalidSignature(user: 4, what: "key advertisement"), .invalidSignature(user: 4, what: "key advertisement")])
        f.check(result, survivors: [0, 1, 2, 3])
    }

    /// The server substitutes its own keys for user 3 in the key list: clients refuse.
    @Test func substitutedKeysInTheKeyListAreRefusedByClients() throws {
        let f = try Fixture(n: 5, m: 16, seed: 7)
        var net = try f.network()
        var rng = SeededByteSource(seed: 999)
        let fake = KeyAgreement.PrivateKey(using: &rng).publicKey
        net.tamper = { o in
            guard case let .keyList(m) = o.message else { return [o] }
            let ads = m.advertisements.map { a in
                a.sender == 3 ? AdvertiseKeysMessage(round: a.round, sender: 3, encryptionKey: fake, maskingKey: fake, seedCommitment: a.seedCommitment, signature: a.signature) : a
            }
            return [Outgoing(recipient: o.recipient, message: .keyList(KeyListMessage(round: m.round, advertisements: ads)))]
        }
        #expect(net.run() == nil)
        for u in [0, 1, 2, 4] as [UInt32] {
            #expect(net.clientErrors[u] == [.invalidSignature(user: 3, what: "key advertisement")])
        }
    }

    @Test func forgedConsistencySignatureIsRefused() throws {
        let f = try Fixture(n: 5, m: 16, seed: 8)
        var net = try f.network()
        net.tamper = { o in
            guard o.recipient == 0, case let .unmaskingRequest(m) = o.message else { return [o] }
            let sigs = m.signatures.map { s in
                SurvivorSignature(user: s.user, signature: s.user == 2 ? [UInt8](repeating: 7, count: 64) : s.signature)
            }
            return [Outgoing(recipient: 0, message: .unmaskingRequest(UnmaskingRequestMessage(round: m.round, dropped: m.dropped, signatures: sigs)))]
        }
        let result = net.run()
        #expect(net.clientErrors[0] == [.invalidSignature(user: 2, what: "survivor list U3")])
        f.check(result, survivors: [0, 1, 2, 3, 4])  // user 0's input is summed; the others unmask it
    }

    @Test func tamperedShareCiphertextAborts() throws {
        let f = try Fixture(n: 4, m: 16, seed: 9)
        var net = try f.network()
        net.tamper = { o in
            guard o.recipient == 1, case let .shareBundle(m) = o.message else { return [o] }
            var shares = m.shares
            var ct = shares[0].ciphertext
            ct[5] ^= 1
            shares[0] = EncryptedShare(peer: shares[0].peer, nonce: shares[0].nonce, ciphertext: ct)
            return [Outgoing(recipient: 1, message: .shareBundle(ShareBundleMessage(round: m.round, receiver: 1, shares: shares)))]
        }
        let result = net.run()
        #expect(net.clientErrors[1] == [.decryptionFailed])
        f.check(result, survivors: [0, 2, 3])
    }

    /// Replayed server messages are refused without disturbing the client; replayed client
    /// messages are refused without disturbing the sum.
    @Test func replaysAreRefused() throws {
        let f = try Fixture(n: 5, m: 64, seed: 10)
        var net = try f.network()
        net.tamper = { o in
            switch o.message {
            case .keyList, .shareBundle, .consistencyRequest, .unmaskingRequest: return [o, o]
            case .roundFinished: return [o]
            }
        }
        net.deliverToServer = { _, m in [m, m] }
        let result = net.run()
        f.check(result, survivors: [0, 1, 2, 3, 4])
        for u in 0 ..< UInt32(5) {
            let errors = net.clientErrors[u] ?? []
            #expect(errors.count == 4)
            #expect(errors.allSatisfy { if case .unexpectedMessage = $0 { return true } else { return false } })
        }
        let dup = net.serverErrors.filter { if case .duplicateMessage = $0.1 { return true } else { return false } }
        // Every message but the last unmasking responses (which arrive after the round closed) is a refused duplicate.
        #expect(dup.count == 5 * 4)
        #expect(net.serverErrors.count == 5 * 5)
    }

    @Test func messagesFromAnotherRoundOrSenderAreRefused() throws {
        let f = try Fixture(n: 3, m: 8, seed: 12)
        var server = SecAggServer(config: f.config)
        var rng = SeededByteSource(seed: 1)
        let (client0, ad0) = try SecAggClient.start(config: f.config, id: 0, identity: f.identities[0], update: f.updates[0], random: rng)
        guard case let .advertiseKeys(a) = ad0 else { Issue.record("not an advertisement"); return }
        let old = AdvertiseKeysMessage(round: a.round - 1, sender: 0, encryptionKey: a.encryptionKey, maskingKey: a.maskingKey, seedCommitment: a.seedCommitment, signature: a.signature)
        #expect(throws: SecAggError.wrongRound(expected: 3, actual: 2)) { try server.receive(.advertiseKeys(old), from: 0) }
        #expect(throws: SecAggError.wrongSender(expected: 1, actual: 0)) { try server.receive(ad0, from: 1) }
        #expect(throws: SecAggError.unknownUser(9)) {
            try server.receive(.advertiseKeys(AdvertiseKeysMessage(round: 3, sender: 9, encryptionKey: a.encryptionKey, maskingKey: a.maskingKey, seedCommitment: a.seedCommitment, signature: a.signature)), from: 9)
        }
        #expect(throws: SecAggError.unexpectedMessage(state: "AdvertiseKeys", message: "MaskedInput")) {
            try server.receive(.maskedInput(MaskedInputMessage(round: 3, sender: 0, words: [])), from: 0)
        }
        _ = try server.receive(ad0, from: 0)
        #expect(throws: SecAggError.duplicateMessage(sender: 0, message: "AdvertiseKeys")) { try server.receive(ad0, from: 0) }
        // A signature made for another round does not verify in this one even if relabelled.
        let rebadged = AdvertiseKeysMessage(round: 3, sender: 1, encryptionKey: a.encryptionKey, maskingKey: a.maskingKey, seedCommitment: a.seedCommitment, signature: a.signature)
        #expect(throws: SecAggError.invalidSignature(user: 1, what: "key advertisement")) { try server.receive(.advertiseKeys(rebadged), from: 1) }

        var client = client0
        let stale = ServerMessage.keyList(KeyListMessage(round: 2, advertisements: [old]))
        #expect(throws: SecAggError.wrongRound(expected: 3, actual: 2)) { try client.receive(stale) }
        #expect(throws: SecAggError.unexpectedMessage(state: "AdvertiseKeys", message: "ConsistencyRequest")) {
            try client.receive(.consistencyRequest(ConsistencyRequestMessage(round: 3, survivors: [0, 1, 2])))
        }
        #expect(client.state.name == "AdvertiseKeys")
        _ = rng.bytes(1)
    }
}
