import Testing
@testable import SecureAggregation
import SecureAggregationTesting

/// The seven findings of issue 14, each written as the attack (attacker code in
/// SecureAggregationTesting). Each attack is refused with its named `SecAggError`; the paired
/// `...WithoutTheDefence` test runs the same attack on a configuration with that defence switched
/// off (`Weakening`, or an explicitly weaker threshold) and recovers the honest node's update,
/// which shows the refusal test is what stands between the attacker and the data.
@Suite struct AttackTests {
    /// Within one quantum of the clipped update, and the weight exact: the attacker read it.
    static func recovered(_ r: (values: [Double], weight: UInt32)?, _ f: Fixture, user: Int) -> Bool {
        guard let r, r.weight == f.updates[user].blockWeights.first(where: { $0 > 0 }) else { return false }
        let c = Double(f.config.quantisation.clip)
        let tolerance = f.quantum * 1.001
        return zip(r.values, f.updates[user].values).allSatisfy { abs($0 - min(max(Double($1), -c), c)) <= tolerance }
    }

    // MARK: 1. Duplicated keys cancel masks

    /// Colluder 2 re-advertises victim 0's masking public key (its random source hands the client
    /// that key), so that user 1's two pairwise streams would be equal with opposite signs.
    static func duplicatedKeyNetwork(_ f: Fixture) throws -> FakeNetwork {
        let stolen = ClientSecrets(user: 0, network: 1).maskingKey.exportRawRepresentation()
        var own = SeededByteSource(seed: 777)
        let script = ScriptedRandom(prefix: own.bytes(32) + stolen, then: SeededByteSource(seed: 778))
        return try f.network(randomSources: [2: script])
    }

    @Test func duplicatedMaskingKeyIsRefused() throws {
        let f = try Fixture(n: 3, m: 24, seed: 81)
        // The honest server refuses the second advertisement of the key.
        var net = try Self.duplicatedKeyNetwork(f)
        #expect(net.run() == nil)
        #expect(net.serverErrors.map(\.1) == [.duplicateKey(first: 0, second: 2)])
        // A lying server forwards it anyway: every client refuses the key list, nothing is masked.
        var lying = try Self.duplicatedKeyNetwork(f)
        lying.server = SecAggServer(config: try f.weakened([.pairwiseBinding]))
        #expect(lying.run() == nil)
        for u in 0 ..< 3 { #expect(lying.clientErrors[UInt32(u)] == [.duplicateKey(first: 0, second: 2)]) }
        #expect(ServerTranscript(config: f.config, messages: lying.serverView).maskedInput(of: 1) == nil)
    }

    @Test func duplicatedMaskingKeyWithoutTheDefenceRevealsTheUpdate() throws {
        let f = try Fixture(n: 3, m: 24, seed: 81, weakened: [.pairwiseBinding])
        var net = try Self.duplicatedKeyNetwork(f)
        _ = net.run()
        let t = ServerTranscript(config: f.config, messages: net.serverView)
        let seed = try Shamir.combine(t.revealedShares(of: 1), threshold: f.config.threshold)
        // User 1 survived, so its self-mask seed is revealed; its pairwise masks cancelled each other.
        #expect(Self.recovered(t.recoverUpdate(of: 1, selfMaskSeed: seed, bindIDs: false), f, user: 1))
    }

    // MARK: 2. A single-contributor block is unmasked before it is refused

    /// Users 0 and 1 annotate the spleen (block 1); the server withholds user 1's masked input
    /// to isolate user 0's spleen head.
    static let spleenWeights: [[UInt32]] = [[3, 3], [5, 5], [2, 0], [4, 0]]
    static func isolating(_ net: inout FakeNetwork) {
        net.deliverToServer = { u, m in
            if u == 1, case .maskedInput = m { return [] }
            return [m]
        }
    }

    @Test func isolatedBlockIsRefusedBeforeAnyShareIsRevealed() throws {
        let f = try Fixture(n: 4, m: 20, blockCount: 2, seed: 82, weights: { u, b in Self.spleenWeights[u][b] })
        var net = try f.network()
        Self.isolating(&net)
        #expect(net.run() == nil)
        #expect(net.server.abortReason == SecAggError.tooFewContributors(block: "block1", contributors: 1).description)
        // A lying server that goes on anyway: the clients check the signed survivor list themselves.
        var lying = try f.network()
        Self.isolating(&lying)
        lying.server = SecAggServer(config: try f.weakened([.blockMinimum, .weightDisclosure]))
        #expect(lying.run() == nil)
        for u: UInt32 in [0, 2, 3] { #expect(lying.clientErrors[u] == [.tooFewContributors(block: "block1", contributors: 1)]) }
        #expect(!lying.serverView.contains { if case .unmaskingResponse = $0 { return true } else { return false } })
        // And a block map with one spleen annotator is refused outright.
        #expect(throws: SecAggError.tooFewContributors(block: "block1", contributors: 1)) {
            _ = try Fixture(n: 4, m: 20, blockCount: 2, seed: 82, weights: { u, b in b == 1 && u > 0 ? 0 : 3 })
        }
    }

    @Test func isolatedBlockWithoutTheDefenceIsDisclosed() throws {
        let f = try Fixture(n: 4, m: 20, blockCount: 2, seed: 82, weights: { u, b in Self.spleenWeights[u][b] },
                            weakened: [.blockMinimum, .weightDisclosure])
        var net = try f.network()
        Self.isolating(&net)
        let out = net.run()
        let result = try #require(out)
        #expect(result.blockContributors[1] == 1 && result.blockWeights[1] == 3)
        let head = result.weightedMean()[10 ..< 20].map(Double.init)
        let truth = f.updates[0].values[10 ..< 20].map(Double.init)
        #expect(zip(head, truth).allSatisfy { abs($0 - $1) <= f.quantum * 1.001 + 1e-6 })
    }

    // MARK: 3. One colluder signs both halves of a split survivor list

    static func splitView(_ f: Fixture) throws -> (FakeNetwork, SplitViewServer) {
        var net = try f.network()
        let attack = SplitViewServer(config: f.config, victim: 0, colluder: 4, colluderIdentity: f.identities[4],
                                     seesVictim: [0, 1], victimDropped: [2, 3])
        attack.attach(to: &net)
        return (net, attack)
    }

    @Test func splitSurvivorListsFailAtTheSafeThreshold() throws {
        let f = try Fixture(n: 5, m: 24, seed: 83)  // t = floor(10/3) + 1 = 4
        #expect(f.config.threshold == 4)
        var (net, attack) = try Self.splitView(f)
        #expect(net.run() == nil)
        for u: UInt32 in [0, 1, 2, 3] {
            #expect(net.clientErrors[u]?.first == .tooFewUsers(phase: "MaskedInput", remaining: 3, needed: 4))
        }
        #expect(try attack.recoverVictim(colluderSecrets: ClientSecrets(user: 4, network: 1)) == nil)
    }

    @Test func splitSurvivorListsWithoutTheDefenceRevealTheUpdate() throws {
        // n/2 + 1 = 3, the old default: tolerable only without colluding nodes, so stated explicitly.
        let f = try Fixture(n: 5, m: 24, threshold: 3, collusionTolerance: .none, seed: 83)
        var (net, attack) = try Self.splitView(f)
        _ = net.run()
        #expect(Self.recovered(try attack.recoverVictim(colluderSecrets: ClientSecrets(user: 4, network: 1)), f, user: 0))
    }

    // MARK: 4. The aggregator grinds the neighbour graph

    static let colluders: Set<UInt32> = [8, 9, 10, 11]

    /// The public seed under which the configuration-drawn graph surrounds user 0 with colluders.
    static func groundSeed() throws -> [UInt8] {
        for i in 0 ..< 20_000 {
            let seed = (0 ..< 32).map { UInt8(truncatingIfNeeded: i >> (8 * min($0, 3))) }
            let f = try Fixture(n: 12, m: 16, neighbours: 4, seed: 84, publicSeed: seed)
            if Set(f.config.holders(of: 0, session: f.config.digest)).subtracting([0]).isSubset(of: colluders) { return seed }
        }
        throw SecAggError.invalidConfiguration(parameter: "test", reason: "no seed found")
    }

    static func attackGround(_ f: Fixture) throws -> (values: [Double], weight: UInt32)? {
        var net = try f.network()
        _ = net.run()
        let t = ServerTranscript(config: f.config, messages: net.serverView)
        let seed = try Shamir.combine(t.revealedShares(of: 0), threshold: f.config.threshold)
        let victimKey = t.advertisements.first { $0.sender == 0 }!.maskingKey
        let pairwise = try colluders.sorted().map { c in
            (other: c, secret: try ClientSecrets(user: c, network: 1).maskingKey.sharedSecret(with: victimKey))
        }
        return t.recoverUpdate(of: 0, selfMaskSeed: seed, pairwise: pairwise)
    }

    @Test func groundPublicSeedDoesNotChooseTheNeighbours() throws {
        let seed = try Self.groundSeed()
        let f = try Fixture(n: 12, m: 16, neighbours: 4, seed: 84, publicSeed: seed)
        let actual = Set(f.config.holders(of: 0, session: try f.session())).subtracting([0])
        #expect(!actual.isSubset(of: Self.colluders), "the session-drawn graph is not the ground one")
        #expect(!Self.recovered(try Self.attackGround(f), f, user: 0))
    }

    @Test func groundPublicSeedWithoutTheDefenceRevealsTheUpdate() throws {
        let f = try Fixture(n: 12, m: 16, neighbours: 4, seed: 84, publicSeed: try Self.groundSeed(),
                            weakened: [.graphFromConfiguration])
        #expect(Self.recovered(try Self.attackGround(f), f, user: 0))
    }

    // MARK: 5. Sample counts solvable from per-block weight sums

    /// Liver-only (5 cases), spleen-only (7) and both (9): blocks core, liver head, spleen head.
    static let organWeights: [[UInt32]] = [[5, 5, 0], [7, 0, 7], [9, 9, 9]]

    @Test func derivableSampleCountsAreRefused() throws {
        #expect(throws: SecAggError.weightDisclosed(user: 0)) {
            _ = try Fixture(n: 3, m: 30, blockCount: 3, seed: 85, weights: { u, b in Self.organWeights[u][b] })
        }
        // Four sites, two per organ: one weight sum per contributor set, none of which isolates a node.
        let four: [[UInt32]] = [[5, 5, 0], [6, 6, 0], [7, 0, 7], [9, 0, 9]]
        let f = try Fixture(n: 4, m: 30, blockCount: 3, seed: 85, weights: { u, b in four[u][b] })
        var net = try f.network()
        let out = net.run()
        let result = try #require(out)
        #expect(f.config.maskedLength == 30 + 2 * 3)
        let solved = Attack.solveWeights(members: [[0, 1, 2, 3], [0, 1], [2, 3]], sums: result.blockWeights, users: 4)
        #expect(solved.isEmpty, "\(solved)")
    }

    @Test func derivableSampleCountsWithoutTheDefenceAreSolved() throws {
        let f = try Fixture(n: 3, m: 30, blockCount: 3, seed: 85, weights: { u, b in Self.organWeights[u][b] },
                            weakened: [.weightDisclosure])
        var net = try f.network()
        let out = net.run()
        let result = try #require(out)
        #expect(result.blockWeights == [21, 14, 16])
        let solved = Attack.solveWeights(members: [[0, 1, 2], [0, 2], [1, 2]], sums: result.blockWeights, users: 3)
        #expect(solved.mapValues { $0.rounded() } == [0: 5, 1: 7, 2: 9])
    }

    // MARK: 6. A forged share corrupts the result silently

    @Test(arguments: [UInt32(3), 4])
    func forgedShareIsDetectedAndItsSenderNamed(forger: UInt32) throws {
        let f = try Fixture(n: 5, m: 24, seed: 86)
        var net = try f.network()
        net.deliverToServer = Attack.forgeSelfMaskShare(of: 0, by: forger, with: [UInt8](repeating: 0x5a, count: 32))
        #expect(net.run() == nil)
        #expect(net.server.abortReason == SecAggError.forgedShare(owner: 0, holders: [forger]).description)
    }

    @Test func forgedShareWithoutTheDefenceCorruptsTheResult() throws {
        let f = try Fixture(n: 5, m: 24, seed: 86, weakened: [.seedCommitment, .totalBounds])
        var net = try f.network()
        net.deliverToServer = Attack.forgeSelfMaskShare(of: 0, by: 3, with: [UInt8](repeating: 0x5a, count: 32))
        let out = net.run()
        let result = try #require(out)
        let trueWeight = f.updates.reduce(UInt64(0)) { $0 + UInt64($1.blockWeights[0]) }
        #expect(result.blockWeights[0] != trueWeight, "a completed round with a garbage weight sum")
    }

    /// The bounds on unmasked totals: a node adding to its weight word is caught.
    @Test func implausibleTotalsAbort() throws {
        let f = try Fixture(n: 5, m: 24, seed: 87)
        var net = try f.network()
        net.deliverToServer = { u, m in
            guard u == 2, case let .maskedInput(mi) = m else { return [m] }
            var words = mi.words
            words[24] &+= 1_000_000
            return [.maskedInput(MaskedInputMessage(round: mi.round, sender: 2, words: words))]
        }
        #expect(net.run() == nil)
        let reason = try #require(net.server.abortReason)
        #expect(reason.contains("unmasked total of 'block0' is impossible") && reason.contains("weight sum"), "\(reason)")
    }

    // MARK: 7. Consistency signers counted twice

    static func repeatingSigner(_ net: inout FakeNetwork) {
        net.deliverValues = true
        net.tamper = { o in
            guard o.recipient == 0, case let .unmaskingRequest(m) = o.message,
                  let forged = Attack.repeatedSigner(m, signer: 4, times: 4) else { return [o] }
            return [Outgoing(recipient: 0, message: .unmaskingRequest(forged))]
        }
    }

    @Test func repeatedSignerIsRefused() throws {
        let f = try Fixture(n: 5, m: 24, seed: 88)
        var net = try f.network()
        Self.repeatingSigner(&net)
        _ = net.run()
        #expect(net.clientErrors[0] == [.duplicateSignature(user: 4)])
        #expect(!net.serverView.contains { if case let .unmaskingResponse(r) = $0 { return r.sender == 0 } else { return false } })
    }

    @Test func repeatedSignerWithoutTheDefenceGetsTheShares() throws {
        let f = try Fixture(n: 5, m: 24, seed: 88, weakened: [.signerDeduplication])
        var net = try f.network()
        Self.repeatingSigner(&net)
        _ = net.run()
        #expect(net.clientErrors[0] == nil)
        #expect(net.serverView.contains { if case let .unmaskingResponse(r) = $0 { return r.sender == 0 } else { return false } })
    }

    // MARK: Protocol version and bound context

    @Test func olderPeersAreRefusedClearly() throws {
        let f = try Fixture(n: 3, m: 8, seed: 89)
        var server = SecAggServer(config: f.config)
        let (_, ad) = try SecAggClient.start(config: f.config, id: 0, identity: f.identities[0], update: f.updates[0],
                                             random: SeededByteSource(seed: 1))
        var old = ad.encode()
        old[0] = 1
        #expect(throws: SecAggError.unsupportedVersion(1)) { try server.receive(bytes: old, from: 0) }
        #expect(SecAggError.unsupportedVersion(1).description.contains("upgrade"))
        var client = try SecAggClient.start(config: f.config, id: 1, identity: f.identities[1], update: f.updates[1],
                                            random: SeededByteSource(seed: 2)).0
        var notice = ServerMessage.roundFinished(RoundFinishedMessage(round: 3, completed: false, reason: "")).encode()
        notice[0] = 1
        #expect(throws: SecAggError.unsupportedVersion(1)) { try client.receive(bytes: notice) }
        #expect(f.config.protocolVersion == WireFormat.version)
    }

    @Test func unexpectedContextIsRefusedBeforeAnyKeyIsMade() throws {
        let context = [UInt8](repeating: 0xab, count: 32)
        let f = try Fixture(n: 3, m: 8, seed: 90, boundContext: context)
        let other = [UInt8](repeating: 0xcd, count: 32)
        #expect(throws: SecAggError.contextMismatch(expected: String(repeating: "cd", count: 32), actual: String(repeating: "ab", count: 32))) {
            _ = try SecAggClient.start(config: f.config, id: 0, identity: f.identities[0], update: f.updates[0], expectedContext: other)
        }
        // The context is signed into the digest: a different one is a different configuration.
        let g = try Fixture(n: 3, m: 8, seed: 90, boundContext: other)
        #expect(f.config.digest != g.config.digest)
        var net = try FakeNetwork(config: f.config, identities: f.identities, updates: f.updates, expectedContext: context)
        f.check(net.run(), survivors: [0, 1, 2])
        #expect(throws: SecAggError.invalidLength(what: "boundContext", expected: 32, actual: 3)) {
            _ = try Fixture(n: 3, m: 8, seed: 90, boundContext: [1, 2, 3])
        }
    }
}
