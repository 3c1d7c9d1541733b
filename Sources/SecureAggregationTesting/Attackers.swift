// The attackers of threat-model.md's secure-aggregation findings, written with the module's
// public API only: a lying server (split survivor lists, forged requests) and colluding clients
// (re-advertised keys, forged shares, secrets handed to the server). The tests run each attack
// against the protocol and expect its named refusal; against a configuration with the defence
// switched off, the same code recovers the honest node's update.
import SecureAggregation

/// A random source that plays back `prefix` first (e.g. a key the attacker chose), then `rest`.
public struct ScriptedRandom: RandomSource {
    private var prefix: [UInt8]
    private var rest: any RandomSource
    public init(prefix: [UInt8], then rest: any RandomSource) {
        self.prefix = prefix
        self.rest = rest
    }
    public mutating func bytes(_ count: Int) -> [UInt8] {
        let take = min(count, prefix.count)
        let head = Array(prefix.prefix(take))
        prefix.removeFirst(take)
        return head + rest.bytes(count - take)
    }
}

/// A client's secrets for one round, as a colluder would hand them to the server: replayed from
/// its seeded random source (the client draws c_u, then s_u, then the self-mask seed b_u).
public struct ClientSecrets {
    public let encryptionKey: KeyAgreement.PrivateKey
    public let maskingKey: KeyAgreement.PrivateKey
    public let selfMaskSeed: [UInt8]

    public init(replaying random: any RandomSource) {
        var r = random
        encryptionKey = KeyAgreement.PrivateKey(using: &r)
        maskingKey = KeyAgreement.PrivateKey(using: &r)
        selfMaskSeed = r.bytes(32)
    }

    /// The secrets of user `user` of a `FakeNetwork` built with `seed`.
    public init(user: UInt32, network seed: UInt64) {
        self.init(replaying: SeededByteSource(seed: FakeNetwork.clientSeed(network: seed, user: user)))
    }
}

/// What the aggregator saw of a round (every client message it received), and the arithmetic
/// an attacker applies to it.
public struct ServerTranscript {
    public let config: SecAggConfig
    public let messages: [ClientMessage]

    public init(config: SecAggConfig, messages: [ClientMessage]) {
        self.config = config
        self.messages = messages
    }

    /// The advertisements, one per sender (the first seen), in sender order: U1 as listed.
    public var advertisements: [AdvertiseKeysMessage] {
        var seen: [UInt32: AdvertiseKeysMessage] = [:]
        for case let .advertiseKeys(a) in messages where seen[a.sender] == nil { seen[a.sender] = a }
        return seen.keys.sorted().map { seen[$0]! }
    }

    public var session: [UInt8] { KeyDerivation.sessionID(config: config, advertisements: advertisements) }

    public func maskedInput(of user: UInt32) -> [UInt32]? {
        for case let .maskedInput(m) in messages where m.sender == user { return m.words }
        return nil
    }

    /// Shares of `owner`'s self-mask seed (or masking key) revealed in unmasking responses, with
    /// their Shamir x (the holder's index in the owner's holder list, plus one).
    public func revealedShares(of owner: UInt32, maskingKey: Bool = false) -> [Shamir.Share] {
        let holders = config.holders(of: owner, session: session)
        var out: [Shamir.Share] = []
        for case let .unmaskingResponse(r) in messages {
            let list = maskingKey ? r.keyShares : r.selfMaskShares
            if let s = list.first(where: { $0.owner == owner }), let i = holders.firstIndex(of: r.sender) {
                out.append(Shamir.Share(x: UInt8(i + 1), value: s.value))
            }
        }
        return out
    }

    /// `holder`'s pair of shares of `owner`'s secrets (self-mask seed share, masking-key share),
    /// decrypted with the holder's encryption key (which a colluding holder hands over).
    public func decryptedShares(owner: UInt32, holder: UInt32, holderKey: KeyAgreement.PrivateKey) throws -> (Shamir.Share, Shamir.Share)? {
        let ads = Dictionary(uniqueKeysWithValues: advertisements.map { ($0.sender, $0) })
        guard let ownerAd = ads[owner] else { return nil }
        for case let .shareKeys(m) in messages where m.sender == owner {
            guard let e = m.shares.first(where: { $0.peer == holder }) else { return nil }
            let key = KeyDerivation.shareEncryptionKey(try holderKey.sharedSecret(with: ownerAd.encryptionKey), session: session,
                                                       pair: (owner, holder))
            let ad = shareAssociatedData(round: config.round, sender: owner, receiver: holder, session: session)
            let plain = try AEAD.open(e.ciphertext, key: key, nonce: e.nonce, associatedData: ad)
            let x = UInt8(config.holders(of: owner, session: session).firstIndex(of: holder)! + 1)
            return (Shamir.Share(x: x, value: Array(plain[0 ..< 32])), Shamir.Share(x: x, value: Array(plain[32 ..< 64])))
        }
        return nil
    }

    /// `user`'s update as the attacker reads it: its masked input minus the self mask of
    /// `selfMaskSeed` and minus the pairwise masks the attacker knows (`pairwise`: the other
    /// user and the X25519 secret of the pair), dequantised. `bindIDs` mirrors the key
    /// derivation the clients used. Returns the values and the weight (single-group layouts).
    public func recoverUpdate(of user: UInt32, selfMaskSeed: [UInt8], pairwise: [(other: UInt32, secret: SecretBytes)] = [],
                              bindIDs: Bool = true) -> (values: [Double], weight: UInt32)? {
        guard var words = maskedInput(of: user) else { return nil }
        let session = self.session
        func subtract(_ key: SecretBytes, negate: Bool) {
            let stream = KeyDerivation.maskWords(key: key, count: words.count)
            for i in words.indices { words[i] = negate ? words[i] &+ stream[i] : words[i] &- stream[i] }
        }
        subtract(KeyDerivation.derive(from: SecretBytes(selfMaskSeed), label: KeyDerivation.selfMaskLabel, session: session), negate: false)
        for (other, secret) in pairwise {
            let key = KeyDerivation.derive(from: secret, label: KeyDerivation.pairwiseMaskLabel, session: session,
                                           pair: bindIDs ? (user, other) : nil)
            subtract(key, negate: user < other)  // the user added +PRG if its id is larger
        }
        let p = config.layout.parameterCount
        let weight = words[p]
        guard weight > 0 else { return nil }
        let q = config.quantisation
        let scale = Double(q.levels) / (2 * Double(q.clip))
        let values = (0 ..< p).map { Double(words[$0] / weight) / scale - Double(q.clip) }
        return (values, weight)
    }
}

/// A lying server that shows two halves of the honest users two different survivor lists: the
/// victim is a survivor in `seesVictim`'s list (they reveal its self-mask seed shares) and
/// dropped in `victimDropped`'s list (they reveal its masking-key shares). The colluder signs
/// both lists and hands over its own shares; each half then holds its list's signatures.
public final class SplitViewServer {
    public let config: SecAggConfig
    public let victim: UInt32
    public let colluder: UInt32
    public let colluderIdentity: Identity.SigningKey
    public let seesVictim: [UInt32]
    public let victimDropped: [UInt32]
    /// Every client message the clients sent (the server's real view, and what it withheld).
    public private(set) var seen: [ClientMessage] = []
    private var sentUnmasking = false

    public init(config: SecAggConfig, victim: UInt32, colluder: UInt32, colluderIdentity: Identity.SigningKey,
                seesVictim: [UInt32], victimDropped: [UInt32]) {
        self.config = config
        self.victim = victim
        self.colluder = colluder
        self.colluderIdentity = colluderIdentity
        self.seesVictim = seesVictim
        self.victimDropped = victimDropped
    }

    public var listA: [UInt32] { (seesVictim + [colluder]).sorted() }
    public var listB: [UInt32] { (victimDropped + [colluder]).sorted() }
    public var transcript: ServerTranscript { ServerTranscript(config: config, messages: seen) }

    /// Installs the attack on `net`.
    public func attach(to net: inout FakeNetwork) {
        net.deliverToServer = { [self] _, m in
            seen.append(m)
            return [m]
        }
        net.tamper = { [self] o in
            guard case .consistencyRequest = o.message else { return [o] }
            let list = listB.contains(o.recipient) && o.recipient != colluder ? listB : listA
            return [Outgoing(recipient: o.recipient, message: .consistencyRequest(ConsistencyRequestMessage(round: config.round, survivors: list)))]
        }
        net.lateMessages = { [self] in
            guard !sentUnmasking else { return [] }
            sentUnmasking = true
            return unmaskingRequests()
        }
    }

    /// The requests for each half: its own list's signatures (the honest half's, plus the
    /// colluder's on that list) and, for the second half, the victim as dropped.
    func unmaskingRequests() -> [Outgoing] {
        let session = transcript.session
        var signatures: [UInt32: [UInt8]] = [:]
        for case let .consistencySignature(s) in seen { signatures[s.sender] = s.signature }
        func request(_ list: [UInt32], dropped: [UInt32]) -> UnmaskingRequestMessage {
            let forged = ConsistencySignatureMessage.signed(config: config, session: session, survivors: list, sender: colluder,
                                                            identity: colluderIdentity)
            var sigs = list.filter { $0 != colluder }.compactMap { u in signatures[u].map { SurvivorSignature(user: u, signature: $0) } }
            sigs.append(SurvivorSignature(user: colluder, signature: forged.signature))
            return UnmaskingRequestMessage(round: config.round, dropped: dropped, signatures: sigs.sorted { $0.user < $1.user })
        }
        let a = request(listA, dropped: []), b = request(listB, dropped: [victim])
        return seesVictim.map { Outgoing(recipient: $0, message: .unmaskingRequest(a)) }
            + victimDropped.map { Outgoing(recipient: $0, message: .unmaskingRequest(b)) }
            + [Outgoing(recipient: colluder, message: .unmaskingRequest(a))]
    }

    /// The victim's update from both kinds of share: its self-mask seed from the first half and
    /// its masking key from the second half (plus the colluder's own decrypted shares).
    public func recoverVictim(colluderSecrets: ClientSecrets) throws -> (values: [Double], weight: UInt32)? {
        let t = transcript
        guard let own = try t.decryptedShares(owner: victim, holder: colluder, holderKey: colluderSecrets.encryptionKey) else { return nil }
        let selfShares = t.revealedShares(of: victim)
        let keyShares = t.revealedShares(of: victim, maskingKey: true) + [own.1]
        guard selfShares.count >= config.threshold, keyShares.count >= config.threshold else { return nil }
        let seed = try Shamir.combine(selfShares, threshold: config.threshold)
        let key = try KeyAgreement.PrivateKey(rawRepresentation: try Shamir.combine(keyShares, threshold: config.threshold))
        let pairwise = try t.advertisements.filter { $0.sender != victim }.map { a in
            (other: a.sender, secret: try key.sharedSecret(with: a.maskingKey))
        }
        return t.recoverUpdate(of: victim, selfMaskSeed: seed, pairwise: pairwise)
    }
}

/// Colluding clients' and lying servers' message rewrites.
public enum Attack {
    /// A colluding holder's unmasking response with its share of `owner`'s self-mask seed replaced.
    public static func forgeSelfMaskShare(of owner: UInt32, by colluder: UInt32, with value: [UInt8]) -> (UInt32, ClientMessage) -> [ClientMessage] {
        { sender, m in
            guard sender == colluder, case let .unmaskingResponse(r) = m else { return [m] }
            let shares = r.selfMaskShares.map { $0.owner == owner ? RevealedShare(owner: owner, value: value) : $0 }
            return [.unmaskingResponse(UnmaskingResponseMessage(round: r.round, sender: r.sender, selfMaskShares: shares, keyShares: r.keyShares))]
        }
    }

    /// An unmasking request whose signature list names `signer` `times` times (a struct a lying
    /// server builds in memory; the byte decoder would refuse its encoding).
    public static func repeatedSigner(_ request: UnmaskingRequestMessage, signer: UInt32, times: Int) -> UnmaskingRequestMessage? {
        guard let s = request.signatures.first(where: { $0.user == signer }) else { return nil }
        return UnmaskingRequestMessage(round: request.round, dropped: request.dropped,
                                       signatures: [SurvivorSignature](repeating: s, count: times))
    }

    /// Solves per-node weights from released weight sums: `sums[g]` is the sum of the weights of
    /// `members[g]`. Gaussian elimination over the rationals; returns the weights it determines.
    public static func solveWeights(members: [[UInt32]], sums: [UInt64], users: Int) -> [UInt32: Double] {
        var rows: [[Double]] = zip(members, sums).map { m, s in
            var r = [Double](repeating: 0, count: users + 1)
            for u in m { r[Int(u)] = 1 }
            r[users] = Double(s)
            return r
        }
        var pivot = 0
        var pivots: [Int] = []
        for c in 0 ..< users where pivot < rows.count {
            guard let p = (pivot ..< rows.count).first(where: { abs(rows[$0][c]) > 1e-9 }) else { continue }
            rows.swapAt(pivot, p)
            let inv = 1 / rows[pivot][c]
            for j in 0 ... users { rows[pivot][j] *= inv }
            for r in rows.indices where r != pivot && abs(rows[r][c]) > 1e-9 {
                let f = rows[r][c]
                for j in 0 ... users { rows[r][j] -= f * rows[pivot][j] }
            }
            pivots.append(c)
            pivot += 1
        }
        var out: [UInt32: Double] = [:]
        for (r, c) in pivots.enumerated() where (0 ..< users).filter({ abs(rows[r][$0]) > 1e-9 }) == [c] {
            out[UInt32(c)] = rows[r][users]
        }
        return out
    }
}
