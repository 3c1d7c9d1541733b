/// A message the server sends to one user.
public struct Outgoing: Equatable, Sendable {
    public let recipient: UInt32
    public let message: ServerMessage
    public init(recipient: UInt32, message: ServerMessage) {
        self.recipient = recipient
        self.message = message
    }
}

/// The running sum of masked inputs, held by reference so that adding a vector never copies it.
final class WordAccumulator {
    var words: [UInt32]
    init(count: Int) { words = [UInt32](repeating: 0, count: count) }
}

/// What the later server states know about U1.
struct ServerKeys {
    let advertisements: [UInt32: AdvertiseKeysMessage]
    let session: [UInt8]
    /// The neighbourhood graph, drawn from the session (every advertisement of U1).
    let graph: Neighbourhood

    /// User `v`'s key advertisement; `unknownUser` if `v` did not advertise (never for the users
    /// the later phases admit, which all come from the advertisers).
    func advertisement(of v: UInt32) throws -> AdvertiseKeysMessage {
        guard let a = advertisements[v] else { throw SecAggError.unknownUser(v) }
        return a
    }
}

/// The server's states, in protocol order. Each collects one kind of client message; `close()`
/// ends the phase (everyone expected answered, or the caller's deadline passed) and returns the
/// next state and the messages to send, or throws `tooFewUsers` when fewer than t remain.
public enum Server {
    /// Collecting signed key advertisements.
    public struct AdvertiseKeys {
        let config: SecAggConfig
        var received: [UInt32: AdvertiseKeysMessage] = [:]

        var expected: Int { config.userCount }

        mutating func receive(_ m: AdvertiseKeysMessage) throws {
            try config.checkUser(m.sender)
            guard received[m.sender] == nil else { throw SecAggError.duplicateMessage(sender: m.sender, message: AdvertiseKeysMessage.name) }
            try m.verify(config: config)
            if !config.weakened.contains(.pairwiseBinding),
               let (a, b) = firstDuplicateKey(received.values.sorted { $0.sender < $1.sender } + [m]) {
                throw SecAggError.duplicateKey(first: a, second: b)
            }
            received[m.sender] = m
        }

        func close() throws -> (ShareKeys, [Outgoing]) {
            guard received.count >= config.threshold else {
                throw SecAggError.tooFewUsers(phase: ProtocolPhase.advertiseKeys.rawValue, remaining: received.count, needed: config.threshold)
            }
            let ads = received.sorted { $0.key < $1.key }.map(\.value)
            let session = KeyDerivation.sessionID(config: config, advertisements: ads)
            let keys = ServerKeys(advertisements: received, session: session,
                                  graph: Neighbourhood(config: config, session: session))
            let list = ServerMessage.keyList(KeyListMessage(round: config.round, advertisements: ads))
            return (ShareKeys(config: config, keys: keys),
                    ads.map { Outgoing(recipient: $0.sender, message: list) })
        }
    }

    /// Collecting each U1 user's encrypted shares (one per holder in U1).
    public struct ShareKeys {
        let config: SecAggConfig
        let keys: ServerKeys
        var received: [UInt32: ShareKeysMessage] = [:]

        var expected: Int { keys.advertisements.count }

        mutating func receive(_ m: ShareKeysMessage) throws {
            guard keys.advertisements[m.sender] != nil else { throw SecAggError.unknownUser(m.sender) }
            guard received[m.sender] == nil else { throw SecAggError.duplicateMessage(sender: m.sender, message: ShareKeysMessage.name) }
            let wanted = keys.graph.holders(of: m.sender).filter { $0 != m.sender && keys.advertisements[$0] != nil }
            guard m.shares.map(\.peer) == wanted else {
                throw SecAggError.malformed(message: ShareKeysMessage.name,
                                            reason: "user \(m.sender) must send one share to each of its \(wanted.count) holders in U1")
            }
            received[m.sender] = m
        }

        func close() throws -> (MaskedInput, [Outgoing]) {
            guard received.count >= config.threshold else {
                throw SecAggError.tooFewUsers(phase: ProtocolPhase.shareKeys.rawValue, remaining: received.count, needed: config.threshold)
            }
            let u2 = received.keys.sorted()
            var bundles: [UInt32: [EncryptedShare]] = [:]
            for (v, message) in received.sorted(by: { $0.key < $1.key }) {
                for s in message.shares where received[s.peer] != nil {
                    bundles[s.peer, default: []].append(EncryptedShare(peer: v, nonce: s.nonce, ciphertext: s.ciphertext))
                }
            }
            let out = u2.map { u in
                Outgoing(recipient: u, message: .shareBundle(ShareBundleMessage(round: config.round, receiver: u,
                                                                                 shares: bundles[u] ?? [])))
            }
            return (MaskedInput(config: config, keys: keys, u2: u2,
                                sum: WordAccumulator(count: config.maskedWords)), out)
        }
    }

    /// Collecting masked inputs from U2, summing them as they arrive (memory O(m)).
    public struct MaskedInput {
        let config: SecAggConfig
        let keys: ServerKeys
        let u2: [UInt32]
        let sum: WordAccumulator
        var received: Set<UInt32> = []

        var expected: Int { u2.count }

        mutating func receive(_ m: MaskedInputMessage) throws {
            guard u2.contains(m.sender) else { throw SecAggError.unknownUser(m.sender) }
            guard !received.contains(m.sender) else { throw SecAggError.duplicateMessage(sender: m.sender, message: MaskedInputMessage.name) }
            guard m.words.count == sum.words.count else {
                throw SecAggError.malformed(message: MaskedInputMessage.name, reason: "\(m.words.count) words, expected \(sum.words.count)")
            }
            received.insert(m.sender)
            if config.quantisation.wordsPerElement == 2 {
                add(m.words, into: &sum.words, as: UInt64.self)
            } else {
                add(m.words, into: &sum.words, as: UInt32.self)
            }
        }

        /// acc += words, element-wise mod 2^32 or (on little-endian word pairs) mod 2^64.
        private func add<W: FixedWidthInteger & UnsignedInteger>(_ words: [UInt32], into acc: inout [UInt32], as _: W.Type) {
            precondition(words.count == acc.count && words.count * 4 % MemoryLayout<W>.size == 0)
            acc.withUnsafeMutableBufferPointer { a in
                words.withUnsafeBufferPointer { w in
                    a.withMemoryRebound(to: W.self) { pa in
                        w.withMemoryRebound(to: W.self) { pw in
                            precondition(pa.count == pw.count)
                            for i in 0 ..< pa.count { pa[i] = pa[i] &+ pw[i] }
                        }
                    }
                }
            }
        }

        func close() throws -> (ConsistencyCheck, [Outgoing]) {
            guard received.count >= config.threshold else {
                throw SecAggError.tooFewUsers(phase: ProtocolPhase.maskedInput.rawValue, remaining: received.count, needed: config.threshold)
            }
            let u3 = received.sorted()
            // Abort now rather than ask for signatures on a survivor set that would release a
            // block below the minimum of contributors or a node's weight.
            try config.checkContributors(survivors: Set(u3))
            let request = ServerMessage.consistencyRequest(ConsistencyRequestMessage(round: config.round, survivors: u3))
            return (ConsistencyCheck(config: config, keys: keys, u2: u2, u3: u3, sum: sum),
                    u3.map { Outgoing(recipient: $0, message: request) })
        }
    }

    /// Collecting U3 members' signatures on U3.
    public struct ConsistencyCheck {
        let config: SecAggConfig
        let keys: ServerKeys
        let u2: [UInt32]
        let u3: [UInt32]
        let sum: WordAccumulator
        var signatures: [UInt32: [UInt8]] = [:]

        var expected: Int { u3.count }

        mutating func receive(_ m: ConsistencySignatureMessage) throws {
            guard u3.contains(m.sender) else { throw SecAggError.unknownUser(m.sender) }
            guard signatures[m.sender] == nil else {
                throw SecAggError.duplicateMessage(sender: m.sender, message: ConsistencySignatureMessage.name)
            }
            let transcript = ConsistencySignatureMessage.transcript(config: config, session: keys.session, survivors: u3)
            guard config.roster[Int(m.sender)].isValidSignature(m.signature, for: transcript) else {
                throw SecAggError.invalidSignature(user: m.sender, what: "survivor list U3")
            }
            signatures[m.sender] = m.signature
        }

        func close() throws -> (Unmasking, [Outgoing]) {
            guard signatures.count >= config.threshold else {
                throw SecAggError.tooFewUsers(phase: ProtocolPhase.consistencyCheck.rawValue, remaining: signatures.count, needed: config.threshold)
            }
            let u4 = signatures.keys.sorted()
            let u3set = Set(u3)
            let dropped = u2.filter { !u3set.contains($0) }
            let signed = signatures.sorted { $0.key < $1.key }
            let out = u4.map { u in
                let sigs = signed.filter { keys.graph.areNeighbours(u, $0.key) }.map { SurvivorSignature(user: $0.key, signature: $0.value) }
                return Outgoing(recipient: u, message: .unmaskingRequest(
                    UnmaskingRequestMessage(round: config.round, dropped: dropped, signatures: sigs)))
            }
            return (Unmasking(config: config, keys: keys, u2: u2, u3: u3, u4: u4, dropped: dropped, sum: sum), out)
        }
    }

    /// Collecting revealed shares; `close()` rebuilds the survivors' self masks and the dropped
    /// users' pairwise masks, removes them and dequantises.
    public struct Unmasking {
        let config: SecAggConfig
        let keys: ServerKeys
        let u2: [UInt32]
        let u3: [UInt32]
        let u4: [UInt32]
        let dropped: [UInt32]
        let sum: WordAccumulator
        var selfShares: [UInt32: [(holder: UInt32, share: Shamir.Share)]] = [:]
        var keyShares: [UInt32: [(holder: UInt32, share: Shamir.Share)]] = [:]
        var responded: Set<UInt32> = []

        var expected: Int { u4.count }

        mutating func receive(_ m: UnmaskingResponseMessage) throws {
            guard u4.contains(m.sender) else { throw SecAggError.unknownUser(m.sender) }
            guard !responded.contains(m.sender) else {
                throw SecAggError.duplicateMessage(sender: m.sender, message: UnmaskingResponseMessage.name)
            }
            // Validate everything before recording anything.
            var selfEntries: [(UInt32, Shamir.Share)] = []
            var keyEntries: [(UInt32, Shamir.Share)] = []
            for s in m.selfMaskShares {
                guard u3.contains(s.owner), let x = keys.graph.shareX(owner: s.owner, holder: m.sender) else {
                    throw SecAggError.malformed(message: UnmaskingResponseMessage.name,
                                                reason: "self-mask share of user \(s.owner), not a survivor held by \(m.sender)")
                }
                selfEntries.append((s.owner, Shamir.Share(x: x, value: s.value)))
            }
            for s in m.keyShares {
                guard dropped.contains(s.owner), let x = keys.graph.shareX(owner: s.owner, holder: m.sender) else {
                    throw SecAggError.malformed(message: UnmaskingResponseMessage.name,
                                                reason: "key share of user \(s.owner), not a dropped user held by \(m.sender)")
                }
                keyEntries.append((s.owner, Shamir.Share(x: x, value: s.value)))
            }
            responded.insert(m.sender)
            for (owner, share) in selfEntries { selfShares[owner, default: []].append((m.sender, share)) }
            for (owner, share) in keyEntries { keyShares[owner, default: []].append((m.sender, share)) }
        }

        func close() throws -> (AggregateResult, [String]) {
            let t = config.threshold
            guard responded.count >= t else {
                throw SecAggError.tooFewUsers(phase: ProtocolPhase.unmasking.rawValue, remaining: responded.count, needed: t)
            }
            // Never unmask a block below the minimum of contributors (nor disclosing weights).
            try config.checkContributors(survivors: Set(u3))
            let checked = !config.weakened.contains(.seedCommitment)
            var terms: [MaskTerm] = []
            for v in u3 {
                let shares = selfShares[v] ?? []
                let commitment = try keys.advertisement(of: v).seedCommitment
                let seed: [UInt8]
                if checked {
                    seed = try Shamir.reconstruct(owner: v, shares: shares, threshold: t) { candidate in
                        constantTimeEqual(AdvertiseKeysMessage.seedCommitment(config: config, sender: v, seed: candidate), commitment)
                    }
                } else {
                    guard shares.count >= t else {
                        throw SecAggError.reconstructionFailed(user: v, reason: "\(shares.count) self-mask shares, threshold \(t)")
                    }
                    seed = try Shamir.combine(shares.map(\.share), threshold: t)  // finding 6's vulnerable form
                }
                terms.append(MaskTerm(key: KeyDerivation.selfMaskKey(seed: SecretBytes(seed), session: keys.session), negate: true))
            }
            for v in dropped {
                let advertised = try keys.advertisement(of: v).maskingKey
                let raw = try Shamir.reconstruct(owner: v, shares: keyShares[v] ?? [], threshold: t) { candidate in
                    (try? KeyAgreement.PrivateKey(rawRepresentation: candidate))?.publicKey == advertised
                }
                let key = try KeyAgreement.PrivateKey(rawRepresentation: raw)
                for w in u3 where w != v && keys.graph.areNeighbours(v, w) {
                    let agreement = try key.sharedSecret(with: keys.advertisement(of: w).maskingKey)
                    // w added +PRG(s_wv) if w > v, -PRG otherwise: undo it.
                    terms.append(MaskTerm(key: KeyDerivation.pairwiseMaskKey(agreement, session: keys.session, pair: (v, w), config: config),
                                          negate: w > v))
                }
            }
            // The accumulator is not used again whatever happens next: unmask it in place.
            MaskArithmetic.apply(terms, to: &sum.words, wide: config.quantisation.wordsPerElement == 2)
            let result = try AggregateResult.dequantise(sum.words, config: config, survivors: u3)
            var log: [String] = []
            for (b, block) in config.layout.blocks.enumerated() {
                let c = result.blockContributors[b]
                if c == 0 {
                    log.append("block '\(block.name)': no contributors this round; left unchanged")
                } else if c < 2 {
                    log.append("block '\(block.name)': \(c) contributor, disclosed as configured (allowSmallBlocks)")
                }
            }
            return (result, log)
        }
    }

    public struct Completed {
        public let result: AggregateResult
    }

    public struct Aborted {
        public let error: SecAggError
        public var reason: String { error.description }
    }
}

/// The secure-aggregation server for one round: a pure state machine. Feed it each client message
/// with the transport's authenticated sender id; it returns the messages to send. It advances by
/// itself when every expected user has answered; call `closePhase()` when the phase's deadline
/// passes (the server never reads a clock).
public struct SecAggServer {
    public enum State {
        case advertiseKeys(Server.AdvertiseKeys)
        case shareKeys(Server.ShareKeys)
        case maskedInput(Server.MaskedInput)
        case consistencyCheck(Server.ConsistencyCheck)
        case unmasking(Server.Unmasking)
        case completed(Server.Completed)
        case aborted(Server.Aborted)

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

    public let config: SecAggConfig
    public private(set) var state: State
    /// Human-readable events (phase ends, refusals, disclosures); the caller writes them out.
    public private(set) var log: [String] = []

    public init(config: SecAggConfig) {
        self.config = config
        state = .advertiseKeys(Server.AdvertiseKeys(config: config))
    }

    public var result: AggregateResult? {
        if case let .completed(c) = state { return c.result }
        return nil
    }

    public var abortReason: String? {
        if case let .aborted(a) = state { return a.reason }
        return nil
    }

    /// Users who are expected to answer in the current phase and have not.
    public var outstanding: Int {
        switch state {
        case let .advertiseKeys(s): return s.expected - s.received.count
        case let .shareKeys(s): return s.expected - s.received.count
        case let .maskedInput(s): return s.expected - s.received.count
        case let .consistencyCheck(s): return s.expected - s.signatures.count
        case let .unmasking(s): return s.expected - s.responded.count
        case .completed, .aborted: return 0
        }
    }

    /// Consumes one message from the authenticated user `sender`. Refuses (throws, state unchanged)
    /// a message of another round, one naming another sender, a replay, one for another phase and
    /// one that fails validation or signature checks. Returns messages to send when the phase ends.
    public mutating func receive(_ message: ClientMessage, from sender: UInt32) throws -> [Outgoing] {
        guard message.sender == sender else { throw SecAggError.wrongSender(expected: sender, actual: message.sender) }
        let round = config.round
        do {
            switch (state, message) {
            case (.advertiseKeys(var s), .advertiseKeys(let m)):
                try check(m.round)
                try s.receive(m)
                state = .advertiseKeys(s)
            case (.shareKeys(var s), .shareKeys(let m)):
                try check(m.round)
                try s.receive(m)
                state = .shareKeys(s)
            case (.maskedInput(var s), .maskedInput(let m)):
                try check(m.round)
                try s.receive(m)
                state = .maskedInput(s)
            case (.consistencyCheck(var s), .consistencySignature(let m)):
                try check(m.round)
                try s.receive(m)
                state = .consistencyCheck(s)
            case (.unmasking(var s), .unmaskingResponse(let m)):
                try check(m.round)
                try s.receive(m)
                state = .unmasking(s)
            case (.completed, _), (.aborted, _):
                throw SecAggError.roundOver(party: "server of round \(round)", state: state.name)
            default:
                throw SecAggError.unexpectedMessage(state: state.name, message: Self.name(of: message))
            }
        } catch let error as SecAggError {
            log.append("refused \(Self.name(of: message)) from user \(sender): \(error)")
            throw error
        }
        return outstanding == 0 ? closePhase() : []
    }

    /// Byte-level form of `receive(_:from:)`.
    public mutating func receive(bytes: [UInt8], from sender: UInt32) throws -> [Outgoing] {
        try receive(ClientMessage.decode(bytes), from: sender)
    }

    /// Ends the current phase with the users who answered (deadline passed, or all answered):
    /// moves on, or aborts with the reason when fewer than t remain.
    public mutating func closePhase() -> [Outgoing] {
        let before = state.name
        let participants: [UInt32]
        do {
            switch state {
            case let .advertiseKeys(s):
                participants = s.received.keys.sorted()
                let (next, out) = try s.close()
                state = .shareKeys(next)
                log.append("AdvertiseKeys closed: U1 has \(next.keys.advertisements.count) of \(config.userCount) users")
                return out
            case let .shareKeys(s):
                participants = s.received.keys.sorted()
                let (next, out) = try s.close()
                state = .maskedInput(next)
                log.append("ShareKeys closed: U2 has \(next.u2.count) users")
                return out
            case let .maskedInput(s):
                participants = s.received.sorted()
                let (next, out) = try s.close()
                state = .consistencyCheck(next)
                log.append("MaskedInput closed: U3 has \(next.u3.count) users")
                return out
            case let .consistencyCheck(s):
                participants = s.signatures.keys.sorted()
                let (next, out) = try s.close()
                state = .unmasking(next)
                log.append("ConsistencyCheck closed: U4 has \(next.u4.count) users, \(next.dropped.count) dropped after sharing")
                return out
            case let .unmasking(s):
                participants = s.responded.sorted()
                let (result, notes) = try s.close()
                log += notes
                state = .completed(Server.Completed(result: result))
                log.append("Unmasking closed: sum of \(result.survivors.count) inputs released")
                let done = ServerMessage.roundFinished(RoundFinishedMessage(round: config.round, completed: true, reason: ""))
                return s.u4.map { Outgoing(recipient: $0, message: done) }
            case .completed, .aborted:
                return []
            }
        } catch let error as SecAggError {
            state = .aborted(Server.Aborted(error: error))
            log.append("round \(config.round) aborted in \(before): \(error)")
            let notice = ServerMessage.roundFinished(RoundFinishedMessage(round: config.round, completed: false, reason: error.description))
            return participants.map { Outgoing(recipient: $0, message: notice) }
        } catch {
            preconditionFailure("unexpected error \(error)")
        }
    }

    private func check(_ messageRound: UInt64) throws {
        guard messageRound == config.round else { throw SecAggError.wrongRound(expected: config.round, actual: messageRound) }
    }

    private static func name(of m: ClientMessage) -> String {
        switch m {
        case .advertiseKeys: return AdvertiseKeysMessage.name
        case .shareKeys: return ShareKeysMessage.name
        case .maskedInput: return MaskedInputMessage.name
        case .consistencySignature: return ConsistencySignatureMessage.name
        case .unmaskingResponse: return UnmaskingResponseMessage.name
        }
    }
}
