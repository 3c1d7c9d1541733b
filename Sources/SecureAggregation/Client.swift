/// What every client state carries: the agreed configuration, who this client is, its update and
/// its random source (the only source of randomness; no clock, no I/O).
struct ClientContext {
    let config: SecAggConfig
    let id: UInt32
    let identity: Identity.SigningKey
    let update: ClientUpdate
    /// The node's one weight this round (0: it contributes to no block).
    let weight: UInt32
    var random: any RandomSource

    var round: UInt64 { config.round }
    var threshold: Int { config.threshold }

    mutating func randomBytes(_ n: Int) -> [UInt8] { random.bytes(n) }
}

/// The two shares a holder keeps of one owner's secrets.
struct HeldShares {
    let selfMask: SecretBytes
    let maskingKey: SecretBytes
}

/// Associated data of a share ciphertext: sender, receiver, round and session.
public func shareAssociatedData(round: UInt64, sender: UInt32, receiver: UInt32, session: [UInt8]) -> [UInt8] {
    var w = ByteWriter()
    w.bytes(Array("segviz-secagg share".utf8))
    w.u64(round)
    w.u32(sender)
    w.u32(receiver)
    w.bytes(session)
    return w.data
}

/// The client's states, in protocol order. Each state consumes the server message that ends its
/// phase and returns the next state and the message to send.
public enum Client {
    /// Keys generated and advertised; waiting for the key list U1.
    public struct AdvertiseKeys {
        var ctx: ClientContext
        let encryptionKey: KeyAgreement.PrivateKey
        let maskingKey: KeyAgreement.PrivateKey
        /// b_u, drawn now so that the advertisement commits to it.
        let seed: SecretBytes

        /// Generates c_u, s_u and b_u, and signs both public keys and the commitment to b_u with
        /// the identity key.
        static func start(_ ctx: ClientContext) -> (AdvertiseKeys, AdvertiseKeysMessage) {
            var ctx = ctx
            let c = KeyAgreement.PrivateKey(using: &ctx.random)
            let s = KeyAgreement.PrivateKey(using: &ctx.random)
            var b = ctx.randomBytes(WireFormat.secretLength)
            let commitment = AdvertiseKeysMessage.seedCommitment(config: ctx.config, sender: ctx.id, seed: b)
            let seed = SecretBytes(b)
            wipe(&b)
            let ad = AdvertiseKeysMessage.signed(config: ctx.config, sender: ctx.id, encryptionKey: c.publicKey,
                                                 maskingKey: s.publicKey, seedCommitment: commitment, identity: ctx.identity)
            return (AdvertiseKeys(ctx: ctx, encryptionKey: c, maskingKey: s, seed: seed), ad)
        }

        /// Checks U1 (own keys present, every signature valid, no key advertised twice, at least
        /// t), derives the session and the neighbourhood from it, then Shamir-shares b_u and
        /// s_u^SK to the holders and encrypts each pair for its holder.
        mutating func handle(_ m: KeyListMessage) throws -> (ShareKeys, ShareKeysMessage) {
            let config = ctx.config
            let id = ctx.id
            guard let mine = m.advertisements.first(where: { $0.sender == id }),
                  mine.encryptionKey == encryptionKey.publicKey, mine.maskingKey == maskingKey.publicKey
            else {
                throw SecAggError.inconsistentSurvivors(.ownAdvertisementMissing)
            }
            guard m.advertisements.count >= ctx.threshold else {
                throw SecAggError.tooFewUsers(phase: ProtocolPhase.advertiseKeys.rawValue, remaining: m.advertisements.count, needed: ctx.threshold)
            }
            // Every advertisement is checked: the session, and with it the neighbourhood graph,
            // hashes all of them.
            var all: [UInt32: AdvertiseKeysMessage] = [:]
            for a in m.advertisements {
                try config.checkUser(a.sender)
                guard a.round == ctx.round else { throw SecAggError.wrongRound(expected: ctx.round, actual: a.round) }
                try a.verify(config: config)
                all[a.sender] = a
            }
            if !config.weakened.contains(.pairwiseBinding), let (a, b) = firstDuplicateKey(m.advertisements) {
                throw SecAggError.duplicateKey(first: a, second: b)
            }
            let session = KeyDerivation.sessionID(config: config, advertisements: m.advertisements)
            let graph = Neighbourhood(config: config, session: session)
            let peers = all.filter { $0.key != id && graph.areNeighbours(id, $0.key) }
            guard peers.count + 1 >= ctx.threshold else {
                throw SecAggError.tooFewUsers(phase: ProtocolPhase.advertiseKeys.rawValue, remaining: peers.count + 1, needed: ctx.threshold)
            }
            let holders = graph.holders(of: id)
            var selfShares = try seed.withBytes {
                try Shamir.split($0, threshold: ctx.threshold, count: holders.count, using: &ctx.random)
            }
            var keyShares = try maskingKey.scalar.withBytes {
                try Shamir.split($0, threshold: ctx.threshold, count: holders.count, using: &ctx.random)
            }
            defer {
                // The peers' shares exist only here and in their ciphertexts: wipe them.
                for i in selfShares.indices {
                    wipe(&selfShares[i].value)
                    wipe(&keyShares[i].value)
                }
            }
            var own: HeldShares?
            var encryptionKeys: [UInt32: SecretBytes] = [:]
            var sent: [EncryptedShare] = []
            for (i, h) in holders.enumerated() {
                if h == id {
                    own = HeldShares(selfMask: SecretBytes(selfShares[i].value), maskingKey: SecretBytes(keyShares[i].value))
                    continue
                }
                guard let peer = peers[h] else { continue }
                let agreement = try encryptionKey.sharedSecret(with: peer.encryptionKey)
                let key = KeyDerivation.shareEncryptionKey(agreement, session: session, pair: (id, h))
                var plaintext = selfShares[i].value + keyShares[i].value
                let nonce = ctx.randomBytes(AEAD.nonceLength)
                let ad = shareAssociatedData(round: ctx.round, sender: id, receiver: h, session: session)
                sent.append(EncryptedShare(peer: h, nonce: nonce, ciphertext: try AEAD.seal(plaintext, key: key, nonce: nonce, associatedData: ad)))
                wipe(&plaintext)
                encryptionKeys[h] = key
            }
            guard let own else { preconditionFailure("a user is always among its own holders") }
            let next = ShareKeys(ctx: ctx, maskingKey: maskingKey, session: session, graph: graph, peers: peers, seed: seed,
                                 own: own, encryptionKeys: encryptionKeys)
            return (next, ShareKeysMessage(round: ctx.round, sender: id, shares: sent))
        }
    }

    /// Shares sent; waiting for the shares addressed to this user (which define U2 here).
    public struct ShareKeys {
        var ctx: ClientContext
        let maskingKey: KeyAgreement.PrivateKey
        let session: [UInt8]
        let graph: Neighbourhood
        let peers: [UInt32: AdvertiseKeysMessage]
        let seed: SecretBytes
        let own: HeldShares
        let encryptionKeys: [UInt32: SecretBytes]

        /// Decrypts the received shares, then masks the quantised update with the self mask and a
        /// pairwise mask for every neighbour in U2 (+ if this id is larger, - otherwise).
        mutating func handle(_ m: ShareBundleMessage) throws -> (MaskedInput, MaskedInputMessage) {
            let id = ctx.id
            guard m.receiver == id else { throw SecAggError.wrongSender(expected: id, actual: m.receiver) }
            var held: [UInt32: HeldShares] = [id: own]
            for e in m.shares {
                guard let key = encryptionKeys[e.peer] else { throw SecAggError.unknownUser(e.peer) }
                let ad = shareAssociatedData(round: ctx.round, sender: e.peer, receiver: id, session: session)
                var plaintext = try AEAD.open(e.ciphertext, key: key, nonce: e.nonce, associatedData: ad)
                held[e.peer] = HeldShares(selfMask: SecretBytes(Array(plaintext[0 ..< 32])),
                                          maskingKey: SecretBytes(Array(plaintext[32 ..< 64])))
                wipe(&plaintext)
            }
            guard held.count >= ctx.threshold else {
                throw SecAggError.tooFewUsers(phase: ProtocolPhase.shareKeys.rawValue, remaining: held.count, needed: ctx.threshold)
            }
            var terms = [MaskTerm(key: KeyDerivation.selfMaskKey(seed: seed, session: session), negate: false)]
            for v in held.keys.sorted() where v != id {
                guard let peer = peers[v] else { throw SecAggError.unknownUser(v) }
                let agreement = try maskingKey.sharedSecret(with: peer.maskingKey)
                terms.append(MaskTerm(key: KeyDerivation.pairwiseMaskKey(agreement, session: session, pair: (id, v), config: ctx.config),
                                      negate: id < v))
            }
            let rounding = MaskKey(secret: SecretBytes(ctx.randomBytes(32)))
            let words = MaskArithmetic.maskedInput(update: ctx.update, weight: ctx.weight, id: id, config: ctx.config,
                                                   roundingKey: rounding, terms: terms)
            return (MaskedInput(ctx: ctx, session: session, graph: graph, held: held),
                    MaskedInputMessage(round: ctx.round, sender: id, words: words))
        }
    }

    /// Masked input sent; waiting for the survivor list U3.
    public struct MaskedInput {
        var ctx: ClientContext
        let session: [UInt8]
        let graph: Neighbourhood
        let held: [UInt32: HeldShares]

        /// Checks U3 against what this user saw and signs (session, U3).
        mutating func handle(_ m: ConsistencyRequestMessage) throws -> (ConsistencyCheck, ConsistencySignatureMessage) {
            let config = ctx.config
            let u3 = m.survivors
            guard zip(u3, u3.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw SecAggError.malformed(message: ConsistencyRequestMessage.name, reason: "survivors not strictly increasing")
            }
            guard u3.contains(ctx.id) else {
                throw SecAggError.inconsistentSurvivors(.ownInputMissing)
            }
            guard u3.count >= ctx.threshold else {
                throw SecAggError.tooFewUsers(phase: ProtocolPhase.maskedInput.rawValue, remaining: u3.count, needed: ctx.threshold)
            }
            for v in u3 {
                try config.checkUser(v)
                if graph.areNeighbours(ctx.id, v), held[v] == nil {
                    throw SecAggError.inconsistentSurvivors(.sharesNeverReceived(user: v, receiver: ctx.id))
                }
            }
            let transcript = ConsistencySignatureMessage.transcript(config: config, session: session, survivors: u3)
            let msg = ConsistencySignatureMessage(round: ctx.round, sender: ctx.id, signature: ctx.identity.signature(for: transcript))
            return (ConsistencyCheck(ctx: ctx, session: session, graph: graph, held: held, survivors: u3), msg)
        }
    }

    /// Survivor list signed; waiting for at least t matching signatures and the unmasking request.
    public struct ConsistencyCheck {
        var ctx: ClientContext
        let session: [UInt8]
        let graph: Neighbourhood
        let held: [UInt32: HeldShares]
        let survivors: [UInt32]

        /// Verifies the other survivors' signatures on the same U3, then reveals, for each owner it
        /// holds shares of, the self-mask share if the owner is in U3 and the masking-key share if
        /// the server lists it as dropped: never both (a dropped user in U3 is refused).
        mutating func handle(_ m: UnmaskingRequestMessage) throws -> (Unmasking, UnmaskingResponseMessage) {
            let config = ctx.config
            let id = ctx.id
            let u3 = Set(survivors)
            let transcript = ConsistencySignatureMessage.transcript(config: config, session: session, survivors: survivors)
            // Signatures are checked in order until t distinct signers are valid (those are what
            // the reveal relies on); any invalid one met before that aborts, and so does a signer
            // named twice (whatever the decoder did: the struct may come from anywhere).
            var signers = Set<UInt32>()
            for s in m.signatures where signers.count < ctx.threshold {
                guard u3.contains(s.user) else {
                    throw SecAggError.inconsistentSurvivors(.signerNotInU3(user: s.user))
                }
                guard graph.areNeighbours(id, s.user) else { throw SecAggError.unknownUser(s.user) }
                guard config.roster[Int(s.user)].isValidSignature(s.signature, for: transcript) else {
                    throw SecAggError.invalidSignature(user: s.user, what: "survivor list U3")
                }
                if config.weakened.contains(.signerDeduplication) {
                    signers.insert(UInt32(signers.count) | 0x8000_0000)  // finding 7's vulnerable count
                } else {
                    guard signers.insert(s.user).inserted else { throw SecAggError.duplicateSignature(user: s.user) }
                }
            }
            guard signers.count >= ctx.threshold else {
                throw SecAggError.tooFewUsers(phase: ProtocolPhase.consistencyCheck.rawValue, remaining: signers.count, needed: ctx.threshold)
            }
            let dropped = Set(m.dropped)
            if let both = m.dropped.first(where: { u3.contains($0) }) {
                throw SecAggError.conflictingShareRequest(user: both)
            }
            // Nothing is revealed if the survivors would release a block below the minimum of
            // contributors, or weight sums that determine a node's weight.
            try config.checkContributors(survivors: u3)
            var selfShares: [RevealedShare] = []
            var keyShares: [RevealedShare] = []
            for (v, shares) in held.sorted(by: { $0.key < $1.key }) {
                if u3.contains(v) {
                    selfShares.append(RevealedShare(owner: v, value: shares.selfMask.exportBytes()))
                } else if dropped.contains(v) {
                    keyShares.append(RevealedShare(owner: v, value: shares.maskingKey.exportBytes()))
                }
            }
            return (Unmasking(round: ctx.round),
                    UnmaskingResponseMessage(round: ctx.round, sender: id, selfMaskShares: selfShares, keyShares: keyShares))
        }
    }

    /// Shares revealed (all secrets released); waiting for the server's end-of-round notice.
    public struct Unmasking {
        public let round: UInt64
    }

    /// The server reported the round complete.
    public struct Completed {
        public let round: UInt64
    }

    /// The round ended without a result for this client.
    public struct Aborted {
        public let round: UInt64
        public let reason: String
        /// The local failure, if this client detected it (nil when the server announced the abort).
        public let error: SecAggError?
    }
}

/// A secure-aggregation client for one round: a pure state machine. Feed it the server's messages;
/// it returns what to send back. No I/O, no clock; randomness only from the injected source.
///
///     var (client, advertisement) = try SecAggClient.start(config: cfg, id: me, identity: key,
///                                                         update: ClientUpdate(values: delta, blockWeights: w))
///     send(advertisement)
///     for message in incoming { for reply in try client.receive(message) { send(reply) } }
public struct SecAggClient {
    public enum State {
        case advertiseKeys(Client.AdvertiseKeys)
        case shareKeys(Client.ShareKeys)
        case maskedInput(Client.MaskedInput)
        case consistencyCheck(Client.ConsistencyCheck)
        case unmasking(Client.Unmasking)
        case completed(Client.Completed)
        case aborted(Client.Aborted)

        /// The protocol phase this state belongs to.
        public var phase: ProtocolPhase {
            switch self {
            case .advertiseKeys: return .advertiseKeys
            case .shareKeys: return .shareKeys
            case .maskedInput: return .maskedInput
            case .consistencyCheck: return .consistencyCheck
            case .unmasking: return .unmasking
            case .completed: return .completed
            case .aborted: return .aborted
            }
        }

        /// The phase's name (`phase.rawValue`), for callers that still read strings.
        public var name: String { phase.rawValue }
    }

    public private(set) var state: State
    public let id: UInt32
    public let round: UInt64

    /// Validates the update, generates this round's keys and returns the signed advertisement.
    /// `expectedContext` is the 32-byte application context this node computed itself (e.g. the
    /// hash of federation, round and global model): a configuration binding anything else is
    /// refused with `contextMismatch` before any key is made, so no masked input is ever sent
    /// for a context the node did not expect.
    public static func start(config: SecAggConfig, id: UInt32, identity: Identity.SigningKey, update: ClientUpdate,
                             random: any RandomSource = SystemRandom(),
                             expectedContext: [UInt8] = [UInt8](repeating: 0, count: SecAggConfig.contextLength)) throws -> (SecAggClient, ClientMessage) {
        try config.checkUser(id)
        guard config.roster[Int(id)] == identity.publicKey else {
            throw SecAggError.invalidConfiguration(parameter: "identity", reason: "not the roster key of user \(id)")
        }
        guard constantTimeEqual(config.boundContext, expectedContext) else {
            throw SecAggError.contextMismatch(expected: hexDigits(expectedContext), actual: hexDigits(config.boundContext))
        }
        let weight = try update.validate(against: config, id: id)
        let (first, ad) = Client.AdvertiseKeys.start(ClientContext(config: config, id: id, identity: identity,
                                                                   update: update, weight: weight, random: random))
        return (SecAggClient(state: .advertiseKeys(first), id: id, round: config.round), .advertiseKeys(ad))
    }

    public var isCompleted: Bool {
        if case .completed = state { return true }
        return false
    }

    public var abortReason: String? {
        if case let .aborted(a) = state { return a.reason }
        return nil
    }

    /// Consumes one server message. A message of another round, or one that does not belong to
    /// the current state (a replay, or out of order), is refused with a thrown error and changes
    /// nothing. A message that fails verification aborts the round (state `.aborted`) and throws.
    public mutating func receive(_ message: ServerMessage) throws -> [ClientMessage] {
        switch state {
        case .completed, .aborted:
            if case .roundFinished = message { return [] }  // the end notice is idempotent
            throw SecAggError.roundOver(party: "client \(id)", state: state.name)
        default: break
        }
        guard message.round == round else { throw SecAggError.wrongRound(expected: round, actual: message.round) }
        if case let .roundFinished(f) = message {
            if f.completed {
                guard case .unmasking = state else {
                    throw SecAggError.unexpectedMessage(state: state.name, message: "RoundFinished(completed)")
                }
                state = .completed(Client.Completed(round: round))
            } else {
                state = .aborted(Client.Aborted(round: round, reason: "server aborted: \(f.reason)", error: nil))
            }
            return []
        }
        do {
            switch (state, message) {
            case (.advertiseKeys(var s), .keyList(let m)):
                let (next, out) = try s.handle(m)
                state = .shareKeys(next)
                return [.shareKeys(out)]
            case (.shareKeys(var s), .shareBundle(let m)):
                let (next, out) = try s.handle(m)
                state = .maskedInput(next)
                return [.maskedInput(out)]
            case (.maskedInput(var s), .consistencyRequest(let m)):
                let (next, out) = try s.handle(m)
                state = .consistencyCheck(next)
                return [.consistencySignature(out)]
            case (.consistencyCheck(var s), .unmaskingRequest(let m)):
                let (next, out) = try s.handle(m)
                state = .unmasking(next)
                return [.unmaskingResponse(out)]
            default:
                throw SecAggError.unexpectedMessage(state: state.name, message: message.name)
            }
        } catch let error as SecAggError {
            if case .unexpectedMessage = error { throw error }
            state = .aborted(Client.Aborted(round: round, reason: error.description, error: error))
            throw error
        }
    }

    /// Byte-level form of `receive(_:)` for a transport: decodes, handles, encodes the replies.
    public mutating func receive(bytes: [UInt8]) throws -> [[UInt8]] {
        try receive(ServerMessage.decode(bytes)).map { $0.encode() }
    }
}
