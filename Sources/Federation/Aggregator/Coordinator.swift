import Foundation
import SecureAggregation
import Tensor

/// The aggregator's round logic: owns the secure-aggregation server state machine, the per-node message
/// queues, phase deadlines, the signed global models and the ledger. Transport-agnostic: the HTTP server
/// calls it with authenticated node ids; `tick` enforces deadlines.
///
/// Compute-heavy steps (the new model's encoding, hashing and signing, its evaluation, the status page's
/// ledger and model checks) run on `compute`, never on the actor's executor; the state-changing entry points
/// (`receive`, `tick`) are serialised across those suspensions by a gate, so a round ends as one step.
public actor Coordinator {
    /// What a caller did wrong; `status` maps to HTTP.
    public struct Refusal: Error, CustomStringConvertible {
        /// 400 malformed, 404 no such thing, 409 wrong round/session/phase.
        public let status: Int
        /// Explanation.
        public let reason: String
        public var description: String { reason }
    }

    let federation: FederationFile
    let store: ModelStore
    let ledger: Ledger
    let key: IdentityKey
    let log: @Sendable (String) -> Void
    /// Where compute-heavy work runs.
    let compute: ComputePool
    let roster: [String]
    /// The federation file's fingerprint and per-field digests, announced to nodes.
    let fingerprint: (value: String, fields: [String: String])
    var model: FederatedModel
    var modelRound: Int
    var modelHash: String
    /// The ledger round (one record per attempt) now running or next to run.
    var round: Int
    var session: [UInt8] = []
    var server: SecAggServer?
    private(set) var recorder: RoundRecorder
    var outbox: [String: [[UInt8]]] = [:]
    /// The last round's queues, kept so that nodes can still read its final message after the round moved on.
    var previousOutbox: (round: Int, session: String, queues: [String: [[UInt8]]])?
    var deadline: Date = .distantFuture
    /// Completed rounds (global models produced); the federation is done when it reaches `federation.rounds`.
    var completedRounds: Int
    /// Attempts from the current global model that aborted in a row (since this process started).
    var failedAttempts = 0
    /// How many attempts in a row may abort before the federation stops as failed.
    let attemptsPerRound: Int
    /// Why the federation stopped without completing its rounds (nil while running or when it succeeded).
    var stopReason: String?
    /// When the federation stopped before its rounds without failing (at the privacy budget): why.
    var stop: FederationStop?
    /// With `privacy`: the current attempt's privacy attestations by node (``PrivacyGate``).
    var attestations: [String: PrivacyAttestation] = [:]
    /// With `privacy`: nodes that declined a round because their budget is spent (they never train again).
    var budgetDeclined: Set<String> = []
    /// When each node last made an authenticated request, and the waiting-report bookkeeping.
    var presence = NodePresence()
    /// When this process started, and the rounds it completed (for the time left).
    let openedAt = Date()
    var completedHere = 0
    /// The current round's server phase as last seen (nil: no round running yet).
    var serverPhase: ProtocolPhase?
    /// Lines of the server state machine's log already logged (this attempt).
    var loggedLines = 0
    /// Round -> status of its model file and signature (models are immutable, so checked once).
    var modelStatusCache: [Int: String] = [:]
    /// The ledger and model checks the status page shows, refreshed when a round ends (nil: not yet computed).
    var ledgerStatus: LedgerStatus?
    /// True while a completed round's model is being written, signed and evaluated.
    var finishing = false
    /// The gate of the state-changing entry points: held by one of them at a time, across its suspensions.
    private var busy = false
    private var gateQueue: [CheckedContinuation<Void, Never>] = []
    /// Message long-polls waiting for a change (a message queued, a round started or ended, a timeout).
    private var waiters: [UUID: (node: String, continuation: CheckedContinuation<Void, Never>)] = [:]
    /// Dice per organ after each round, when an evaluation hook is set (status page).
    public internal(set) var history: [(round: Int, dice: [String: Double])] = []
    var evaluate: (@Sendable (FederatedModel, Int) -> [String: Double])?
    /// The server optimiser on the aggregated update, and where its state is kept between rounds.
    var serverOptimizer: ServerOptimizer
    let optimizerStore: ServerOptimizerStore
    /// The best model by the nodes' held-out scores (with `modelSelection`), replayed from the ledger on start.
    var selection: ModelSelection

    /// Opens the state directory: the ledger and the latest signed global model (creating round 0's model on
    /// first start). Resumes after the last recorded round.
    /// Compute-heavy steps run on `compute` (default: the shared pool).
    /// `attemptsPerRound`: attempts in a row that may abort (from one global model) before the federation stops
    /// as failed. An attempt interrupted by an aggregator stop is recorded as aborted at the next start.
    public init(federation: FederationFile, stateDirectory: String, key: IdentityKey, compute: ComputePool = .shared,
                attemptsPerRound: Int = 3, log: @escaping @Sendable (String) -> Void) throws {
        guard key.publicKey == (try federation.aggregatorKey()) else {
            throw FederationError.notTheAggregatorKey(federation: federation.name)
        }
        self.federation = federation
        self.key = key
        self.log = log
        self.compute = compute
        self.attemptsPerRound = max(1, attemptsPerRound)
        roster = federation.nodes.map(\.id)
        fingerprint = (federation.fingerprint, federation.fieldDigests)
        store = try ModelStore(directory: stateDirectory, federation: federation)
        let ledgerPath = URL(fileURLWithPath: stateDirectory).appendingPathComponent("ledger.sqlite").path
        ledger = try Ledger(path: ledgerPath)
        let check = try ledger.verify(aggregatorKey: key.publicKey)
        guard check.ok else {
            throw FederationError.ledgerDoesNotVerify(path: ledgerPath, problems: check.problems)
        }
        try store.verifyAll(ledger: check.records, key: key)
        let stored = try store.latest(ledger: check.records, key: key)
        model = stored.model
        modelRound = stored.round
        modelHash = stored.hash
        optimizerStore = try ServerOptimizerStore(stateDirectory: stateDirectory)
        serverOptimizer = try optimizerStore.load(round: stored.round, spec: federation.effectiveServerOptimizer,
                                                  count: stored.model.values.count)
        selection = ModelSelection.restore(records: check.records)
        if let best = selection.best { try store.writeBest(round: best.round, key: key) }  // repairs an interrupted copy
        completedRounds = check.records.filter { $0.status == .completed }.count
        stop = Coordinator.restoredStop(check.records)
        let next = try AttemptMarker.recordInterruptedAttempt(stateDirectory: stateDirectory, ledger: ledger,
                                                              records: check.records, modelHash: stored.hash, roster: roster, key: key)
        round = next.round
        recorder = RoundRecorder(round: round, startedAt: Date())
        presence.reportInterval = min(30, max(1, federation.phaseTimeoutSeconds))
        if let interrupted = next.interrupted {
            log("round \(interrupted) was interrupted by the aggregator's stop; recorded as aborted, it restarts as a new attempt (round \(round))")
        }
        if let stop {
            log("the federation stopped \(stop.words) after \(completedRounds) of \(federation.rounds) round(s) (ledger round \(round - 1)); "
                + "it stays stopped")
        } else if round > 1 {
            log("resuming after round \(round - 1): \(completedRounds) of \(federation.rounds) global model(s) done; "
                + "global model is round \(stored.round) (\(stored.hash.prefix(16)))")
        }
    }

    /// Sets a hook that evaluates each new global model (Dice per organ), for the status page.
    public func setEvaluation(_ hook: @escaping @Sendable (FederatedModel, Int) -> [String: Double]) {
        evaluate = hook
    }

    /// True when the federation is over: every round completed, or it stopped (see ``outcome``).
    public var finished: Bool { completedRounds >= federation.rounds || stopReason != nil || stop != nil }

    /// The announcement nodes poll.
    public func announcement() -> RoundAnnouncement {
        startRoundIfNeeded()
        return RoundAnnouncement(round: round, session: hex(session),
                                 phase: finished ? .finished : finishing ? .unmasking : serverPhase.flatMap { RoundPhase($0) } ?? .advertiseKeys,
                                 modelRound: modelRound, modelHash: modelHash, rounds: federation.rounds,
                                 federationFingerprint: fingerprint.value, federationFields: fingerprint.fields,
                                 completedRounds: completedRounds, failure: finished ? stopReason : nil,
                                 stop: finished ? stop : nil)
    }

    /// The current attempt's session id (hex).
    var currentSession: String { hex(session) }

    /// The current global model's file bytes and detached signature text.
    public func currentModelFiles() throws -> SignedModelFile {
        try store.files(round: modelRound)
    }

    /// A node's protocol message for `round`/`session`.
    public func receive(node: String, round r: Int, session s: String, bytes: [UInt8]) async throws {
        await enter()
        defer { leave() }
        startRoundIfNeeded()
        guard !finished else { throw Refusal(status: 409, reason: "the federation has finished") }
        guard r == round, s == hex(session), var srv = server else {
            throw Refusal(status: 409, reason: "round \(r)/\(s.prefix(8)) is not the current round \(round)/\(hex(session).prefix(8))")
        }
        guard let idx = roster.firstIndex(of: node) else { throw Refusal(status: 403, reason: "unknown node") }
        let phaseBefore = srv.state.phase
        try requireAttestation(node: node, phase: phaseBefore)
        let out: [Outgoing]
        // Checking signatures and, at the last phase, removing the masks (expanding every survivor's seeds to
        // the model's length) is CPU work: the server state machine moves to the pool and back.
        let moved = Handoff(srv), sender = UInt32(idx)
        do {
            let back = try await compute.run { () throws -> Handoff<(SecAggServer, [Outgoing])> in
                var s = moved.value
                let o = try s.receive(bytes: bytes, from: sender)
                return Handoff((s, o))
            }
            (srv, out) = back.value
        } catch {
            throw Refusal(status: Self.status(of: error), reason: "\(error)")
        }
        if let p = RoundPhase(phaseBefore) { recorder.record(node, in: p) }
        server = srv
        deliver(out)
        await afterTransition()
    }

    /// 409 for a message that came too late or too early (the phase closed without the node, or it is not
    /// open yet), 400 for one that is malformed or invalid.
    static func status(of error: Error) -> Int {
        switch error as? SecAggError {
        case .unexpectedMessage, .roundOver, .unknownUser: return 409
        default: return 400
        }
    }

    /// The `index`-th message queued for `node` in the current round, if any.
    public func message(node: String, round r: Int, session s: String, index: Int) throws -> [UInt8]? {
        let q: [[UInt8]]
        if r == round, s == hex(session), server != nil {
            q = outbox[node] ?? []
        } else if let p = previousOutbox, p.round == r, p.session == s {
            q = p.queues[node] ?? []
            if index >= q.count { throw Refusal(status: 409, reason: "round \(r) is over") }
        } else {
            throw Refusal(status: 409, reason: "round \(r) is not the current round \(round)")
        }
        return index >= 0 && index < q.count ? q[index] : nil
    }

    /// The `index`-th message for `node` in `round`/`session`, waiting up to `timeout` seconds for it to be queued
    /// (woken when a message for the node is queued or a round starts or ends, not by polling); nil when none came.
    public func nextMessage(node: String, round r: Int, session s: String, index: Int, timeout: Double) async throws -> [UInt8]? {
        let until = ContinuousClock.now + .milliseconds(Int64(max(0, timeout) * 1000))
        while true {
            if let m = try message(node: node, round: r, session: s, index: index) { return m }
            if ContinuousClock.now >= until { return nil }
            let id = UUID()
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                waiters[id] = (node, c)
                Task { [weak self] in
                    try? await Task.sleep(until: until, clock: .continuous)
                    await self?.wake(id)
                }
            }
        }
    }

    /// Long-polls waiting now (for tests).
    var waitingLongPolls: Int { waiters.count }

    private func wake(_ id: UUID) { waiters.removeValue(forKey: id)?.continuation.resume() }

    /// Wakes the long-polls of `node` (every node when nil) to look again.
    func wakeWaiters(node: String?) {
        for (id, w) in waiters where node == nil || w.node == node { wake(id) }
    }

    /// Enforces the phase deadline; call periodically.
    public func tick(now: Date = Date()) async {
        await enter()
        defer { leave() }
        startRoundIfNeeded()
        reportWaiting(now: now)
        guard var srv = server, now >= deadline else { return }
        log("round \(round): \(srv.state.name) deadline passed with \(srv.outstanding) node(s) silent")
        let moved = Handoff(srv)
        let back = await compute.run { () -> Handoff<(SecAggServer, [Outgoing])> in
            var s = moved.value
            let o = s.closePhase()
            return Handoff((s, o))
        }
        let out: [Outgoing]
        (srv, out) = back.value
        server = srv
        deliver(out)
        await afterTransition()
    }

    /// Waits for the gate of the state-changing entry points (handed over in arrival order).
    private func enter() async {
        if busy { await withCheckedContinuation { gateQueue.append($0) } } else { busy = true }
    }

    /// Hands the gate to the next waiter, or opens it.
    private func leave() {
        if gateQueue.isEmpty { busy = false } else { gateQueue.removeFirst().resume() }
    }

    func startRoundIfNeeded() {
        guard server == nil, !finished else { return }
        session = FedCrypto.randomBytes(32)
        do {
            let context = RoundContext(federation, round: round, modelRound: modelRound,
                                       modelHash: try unhex(modelHash, field: "ledger modelHash"))
            let cfg = try RoundSetup.config(federation: federation, model: model, context: context, session: session)
            server = SecAggServer(config: cfg)
        } catch {
            log("round \(round): cannot configure secure aggregation: \(error)")
            return
        }
        outbox = [:]
        attestations = [:]
        recorder = RoundRecorder(round: round, startedAt: Date())
        serverPhase = .advertiseKeys
        deadline = Date().addingTimeInterval(federation.trainingTimeoutSeconds)
        presence.attemptStarted(at: Date())
        AttemptMarker.write(stateDirectory: store.directory, round: round, log: log)
        log("round \(round) started from global model round \(modelRound) (global models \(completedRounds)/\(federation.rounds)"
            + (failedAttempts > 0 ? "; attempt \(failedAttempts + 1) of \(attemptsPerRound) from this model" : "") + ")")
        wakeWaiters(node: nil)
    }

    private func deliver(_ out: [Outgoing]) {
        for o in out where Int(o.recipient) < roster.count {
            outbox[roster[Int(o.recipient)], default: []].append(o.message.encode())
            wakeWaiters(node: roster[Int(o.recipient)])
        }
    }
}
