import Testing
@testable import SecureAggregation
import SecureAggregationTesting

/// An independent ChaCha20 block function (RFC 8439 2.3), so that the mask test cannot be passed
/// by any generator other than ChaCha20 itself.
func referenceChaCha20Words(key: [UInt8], count: Int) -> [UInt32] {
    func word(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
    }
    func rotl(_ v: UInt32, _ n: UInt32) -> UInt32 { (v << n) | (v >> (32 - n)) }
    var out: [UInt32] = []
    var counter: UInt32 = 0
    while out.count < count {
        var s: [UInt32] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]
        for i in 0 ..< 8 { s.append(word(key, 4 * i)) }
        s += [counter, 0, 0, 0]
        var x = s
        func qr(_ a: Int, _ b: Int, _ c: Int, _ d: Int) {
            x[a] = x[a] &+ x[b]; x[d] = rotl(x[d] ^ x[a], 16)
            x[c] = x[c] &+ x[d]; x[b] = rotl(x[b] ^ x[c], 12)
            x[a] = x[a] &+ x[b]; x[d] = rotl(x[d] ^ x[a], 8)
            x[c] = x[c] &+ x[d]; x[b] = rotl(x[b] ^ x[c], 7)
        }
        for _ in 0 ..< 10 {
            qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15)
            qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14)
        }
        for i in 0 ..< 16 { out.append(x[i] &+ s[i]) }
        counter += 1
    }
    return Array(out.prefix(count))
}

/// What the server can compute for user u from its view alone: y_u minus u's self mask, rebuilt
/// from the self-mask shares the survivors revealed.
func unmaskedBySelfMask(view: [ClientMessage], config: SecAggConfig, user: UInt32) throws -> [UInt32] {
    let transcript = ServerTranscript(config: config, messages: view)
    let y = transcript.maskedInput(of: user) ?? []
    let shares = transcript.revealedShares(of: user)
    let session = transcript.session
    let seed = SecretBytes(try Shamir.combine(shares, threshold: config.threshold))
    let mask = KeyDerivation.maskWords(key: KeyDerivation.selfMaskKey(seed: seed, session: session).secret, count: y.count)
    return zip(y, mask).map { $0 &- $1 }
}

/// Two-sample chi-square statistic over equal-size samples.
func chiSquare(_ a: [Int], _ b: [Int], bins: Int) -> Double {
    var ha = [Double](repeating: 0, count: bins), hb = ha
    for x in a { ha[x] += 1 }
    for x in b { hb[x] += 1 }
    var chi = 0.0
    for i in 0 ..< bins where ha[i] + hb[i] > 0 { chi += (ha[i] - hb[i]) * (ha[i] - hb[i]) / (ha[i] + hb[i]) }
    return chi
}

@Suite struct PrivacyTests {
    /// The masked vector is exactly q(x) + ChaCha20(KDF(b_u)) - ChaCha20(KDF(s_uv)) mod 2^32, word
    /// by word across chunk boundaries, with ChaCha20 computed here independently and by libsodium.
    /// In Z_2^64 each element is the little-endian pair of consecutive keystream words.
    @Test(arguments: [32, 64])
    func maskIsTheChaCha20KeystreamOfTheDerivedKey(modulusBits: Int) throws {
        let ids = FakeNetwork.identities(count: 2, seed: 31)
        let m = 5000  // crosses mask chunk boundaries
        let config = try SecAggConfig(round: 9, roster: ids.map(\.publicKey), threshold: 2,
                                      layout: try VectorLayout.single(count: m),
                                      quantisation: Quantisation(clip: 1, levels: 4, maxWeight: 1, modulusBits: modulusBits))
        // x = -clip quantises to 0 exactly: the masked words are the masks alone.
        let update = ClientUpdate(values: [Float](repeating: -1, count: m), blockWeights: [1])
        var server = SecAggServer(config: config)
        var clients: [SecAggClient] = []
        var out: [Outgoing] = []
        for u in 0 ..< 2 {
            let (c, ad) = try SecAggClient.start(config: config, id: UInt32(u), identity: ids[u], update: update,
                                                 random: SeededByteSource(seed: UInt64(50 + u)))
            clients.append(c)
            out += try server.receive(ad, from: UInt32(u))
        }
        var toServer: [(UInt32, ClientMessage)] = []
        for o in out { toServer += try clients[Int(o.recipient)].receive(o.message).map { (o.recipient, $0) } }
        out = []
        for (u, msg) in toServer { out += try server.receive(msg, from: u) }
        guard case let .shareKeys(s0) = clients[0].state else { Issue.record("client 0 not in ShareKeys"); return }
        let bundle0 = try #require(out.first { $0.recipient == 0 })
        let replies = try clients[0].receive(bundle0.message)
        guard case let .maskedInput(y0) = replies.first else { Issue.record("no masked input"); return }

        let selfKey = KeyDerivation.derive(from: s0.seed, label: "self-mask", session: s0.session)
        let agreement = try s0.maskingKey.sharedSecret(with: s0.peers[1]!.maskingKey)
        let pairKey = KeyDerivation.derive(from: agreement, label: "pairwise-mask", session: s0.session, pair: (0, 1))
        let n = config.maskedWords
        let selfWords = referenceChaCha20Words(key: selfKey.exportBytes(), count: n)
        let pairWords = referenceChaCha20Words(key: pairKey.exportBytes(), count: n)
        // libsodium's crypto_stream_chacha20_ietf gives the same words.
        let sodium = try ChaCha20.keystream(count: 4 * n, key: selfKey.exportBytes())
        var r = ByteReader(sodium, message: "keystream")
        #expect(try (0 ..< n).map { _ in try r.u32() } == selfWords)
        #expect(KeyDerivation.maskWords(key: selfKey, count: n) == selfWords)
        let tail: [UInt64] = [1, 1]  // the group's weight, contributor flag
        let wpe = modulusBits / 32
        func element(_ w: [UInt32], _ i: Int) -> UInt64 {
            wpe == 1 ? UInt64(w[i]) : UInt64(w[2 * i]) | UInt64(w[2 * i + 1]) << 32
        }
        let modMask: UInt64 = wpe == 1 ? 0xffff_ffff : .max
        for i in 0 ..< n / wpe {
            let x: UInt64 = i < m ? 0 : tail[i - m]
            if element(y0.words, i) != (x &+ element(selfWords, i) &- element(pairWords, i)) & modMask {
                Issue.record("element \(i) differs")
                return
            }
        }
        // The pair key is symmetric: user 1 derives the same key from its side.
        guard case let .shareKeys(s1) = clients[1].state else { Issue.record("client 1 not in ShareKeys"); return }
        let agreement1 = try s1.maskingKey.sharedSecret(with: s1.peers[0]!.maskingKey)
        #expect(KeyDerivation.derive(from: agreement1, label: "pairwise-mask", session: s1.session, pair: (1, 0)) == pairKey)
        #expect(s1.session == s0.session)
    }

    /// The server's whole view for two input sets with equal sums: what it can unmask of user 0
    /// (y_0 minus the rebuilt self mask) has the same distribution over many runs.
    @Test func serverViewIsIndistinguishableForEqualSums() throws {
        let ids = FakeNetwork.identities(count: 3, seed: 32)
        let config = try SecAggConfig(round: 1, roster: ids.map(\.publicKey), threshold: 3,
                                      layout: try VectorLayout.single(count: 2),
                                      quantisation: Quantisation(clip: 1, levels: 4, maxWeight: 1))
        // Levels 4, clip 1: 0.5 -> 3, -0.5 -> 1, 0 -> 2 exactly (no rounding randomness).
        let inputsA: [[Float]] = [[0.5, 0], [-0.5, 0], [0, 0]]
        let inputsB: [[Float]] = [[-0.5, 0], [0.5, 0], [0, 0]]
        var lowA: [Int] = [], lowB: [Int] = [], highA: [Int] = [], highB: [Int] = [], plain: [Int] = []
        let runs = 300
        for run in 0 ..< runs {
            for (inputs, isA) in [(inputsA, true), (inputsB, false)] {
                let updates = inputs.map { ClientUpdate(values: $0, blockWeights: [1]) }
                // Independent randomness for the two input sets (the same seed would give the same
                // masks, and the two samples would be shifted copies of each other).
                var net = try FakeNetwork(config: config, identities: ids, updates: updates,
                                          seed: UInt64(isA ? 1000 + run : 100_000 + run))
                let out = net.run()
                let result = try #require(out)
                #expect(result.weightedSums == [0, 0])
                let z = try unmaskedBySelfMask(view: net.serverView, config: config, user: 0)[0]
                if isA {
                    lowA.append(Int(z & 7)); highA.append(Int(z >> 29)); plain.append(Int(z & 7))
                } else {
                    lowB.append(Int(z & 7)); highB.append(Int(z >> 29))
                }
            }
        }
        // 7 degrees of freedom: P(chi2 > 24.3) = 0.001.
        #expect(chiSquare(lowA, lowB, bins: 8) < 24.3)
        #expect(chiSquare(highA, highB, bins: 8) < 24.3)
        // Control: the same statistic separates the unmasked quantised inputs (3 vs 1) at once.
        let qa = [Int](repeating: 3, count: runs), qb = [Int](repeating: 1, count: runs)
        #expect(chiSquare(qa, qb, bins: 8) > 24.3)
        // And user 0's unmasked value is not its input: it hits 3 (its A input) no more than chance.
        #expect(plain.filter { $0 == 3 }.count < runs / 4)
    }

    /// Sample counts never reach the server in the clear (Flower's SecAgg+ sends them unmasked):
    /// the weight and contributor words of every masked vector are masked, only their sums are
    /// released. Runs on the production random source.
    @Test func weightsAreMaskedAndOnlySumsReleased() throws {
        // One weight per node; block 1's contributors are two nodes, so no single weight follows from the sums.
        let weights: [[UInt32]] = [[7, 0], [3, 0], [5, 5], [1, 1]]
        let f = try Fixture(n: 4, m: 10, blockCount: 2, seed: 34, weights: { u, b in weights[u][b] })
        var net = try f.network(systemRandom: true)
        let out = net.run()
        let result = try #require(out)
        f.check(result, survivors: [0, 1, 2, 3])
        let p = f.config.layout.parameterCount
        var inputs = 0
        for m in net.serverView {
            guard case let .maskedInput(mi) = m else { continue }
            inputs += 1
            let tail = Array(mi.words[p...])
            let plain = weights[Int(mi.sender)] + weights[Int(mi.sender)].map { $0 > 0 ? 1 : 0 }  // one group per block here
            // Each masked word equals its plain value with probability 2^-32.
            #expect(zip(tail, plain).allSatisfy { $0 != $1 })
        }
        #expect(inputs == 4)
        #expect(result.blockWeights == [16, 6])
        #expect(result.blockContributors == [4, 2])
    }

    /// Nothing the server is sent lets it rebuild a survivor's masking key: it holds no key share
    /// of any survivor, while each dropped user's key is rebuilt from t shares.
    @Test func survivorsMaskingKeysNeverReachTheServer() throws {
        let f = try Fixture(n: 8, m: 32, seed: 33)
        var net = try f.network(drops: [2: .afterSharing, 6: .afterSharing])
        f.check(net.run(), survivors: [0, 1, 3, 4, 5, 7])
        let transcript = ServerTranscript(config: f.config, messages: net.serverView)
        var keyShares: [UInt32: [Shamir.Share]] = [:]
        let ads = Dictionary(uniqueKeysWithValues: transcript.advertisements.map { ($0.sender, $0) })
        for u in 0 ..< UInt32(8) {
            let s = transcript.revealedShares(of: u, maskingKey: true)
            if !s.isEmpty { keyShares[u] = s }
        }
        #expect(Set(keyShares.keys) == [2, 6])
        for (owner, shares) in keyShares {
            #expect(shares.count >= f.config.threshold)
            let key = try KeyAgreement.PrivateKey(rawRepresentation: try Shamir.combine(shares, threshold: f.config.threshold))
            #expect(key.publicKey == ads[owner]!.maskingKey)
        }
        // The share ciphertexts the server relays do not open under anything it can derive from
        // public data (here: the session's own hash as a key).
        let session = KeyDerivation.sessionID(config: f.config, advertisements: ads.keys.sorted().map { ads[$0]! })
        for m in net.serverView {
            guard case let .shareKeys(s) = m, let e = s.shares.first else { continue }
            #expect(throws: SecAggError.decryptionFailed) {
                try AEAD.open(e.ciphertext, key: SecretBytes(session), nonce: e.nonce,
                              associatedData: shareAssociatedData(round: f.config.round, sender: s.sender, receiver: e.peer, session: session))
            }
        }
    }
}
