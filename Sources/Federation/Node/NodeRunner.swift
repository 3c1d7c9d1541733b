import Foundation
import SecureAggregation
import Tensor

/// Local training at a node: trains `model` in place for `epochs` and returns the sample count it used
/// (its aggregation weight).
public protocol LocalTrainer: Sendable {
    /// Trains in place; `round` seeds the node's randomness.
    func train(model: inout FederatedModel, epochs: Int, round: Int) throws -> Int
    /// Trains in place from the round's verified global model `global` (the distillation teacher), in the round
    /// that follows `completedRounds` completed rounds (the learning-rate schedule's and the distillation
    /// weight's position). The default ignores both.
    func train(model: inout FederatedModel, global: FederatedModel, epochs: Int, round: Int, completedRounds: Int) throws -> Int
    /// Scores the received global model on the node's held-out cases (model selection); nil: no held-out cases.
    func heldOutScores(model: FederatedModel) throws -> HeldOutScores?
}

extension LocalTrainer {
    public func train(model: inout FederatedModel, global: FederatedModel, epochs: Int, round: Int, completedRounds: Int) throws -> Int {
        try train(model: &model, epochs: epochs, round: round)
    }

    /// No held-out cases.
    public func heldOutScores(model: FederatedModel) throws -> HeldOutScores? { nil }
}

/// A node's main loop: pull the round announcement, fetch and verify the signed global model, train, take
/// part in secure aggregation, repeat; reconnect with backoff when the aggregator is unreachable.
public struct NodeRunner: Sendable {
    let federation: FederationFile
    let id: String
    let key: IdentityKey
    let trainer: any LocalTrainer
    let client: AggregatorClient
    let log: @Sendable (String) -> Void
    let aggregatorKey: Minisign.PublicKey
    let organs: [String]
    let index: UInt32
    /// Where local training runs (never on the cooperative pool).
    let compute: ComputePool
    /// What this node did before (rounds, attempts, reveals); durable with `stateDirectory`.
    let memory: NodeMemory
    /// Test hook: called with the phase before each protocol step (lets tests kill the process there, or
    /// hold it while they cut its network link).
    let onPhase: @Sendable (NodePhase, Int) async -> Void
    /// Seconds the node keeps trying to reach an unreachable aggregator before it exits non-zero.
    let giveUpAfter: Double

    /// Creates a runner for node `id` of `federation`.
    public init(federation: FederationFile, id: String, key: IdentityKey, trainer: any LocalTrainer,
                aggregatorURL: String, stateDirectory: String? = nil, compute: ComputePool = .shared,
                giveUpAfter: Double = 300, log: @escaping @Sendable (String) -> Void,
                onPhase: @escaping @Sendable (NodePhase, Int) async -> Void = { _, _ in }) throws {
        guard let idx = federation.nodes.firstIndex(where: { $0.id == id }) else {
            throw FederationError.unknownNode(id: id, federation: federation.name)
        }
        guard try federation.nodeKey(idx) == key.publicKey else {
            throw FederationError.keyNotListed(node: id)
        }
        self.federation = federation
        self.id = id
        self.key = key
        self.trainer = trainer
        self.log = log
        self.onPhase = onPhase
        self.compute = compute
        self.giveUpAfter = giveUpAfter
        organs = federation.nodes[idx].organs
        index = UInt32(idx)
        aggregatorKey = try federation.aggregatorKey()
        memory = try NodeMemory(federation: federation.name, node: id, directory: stateDirectory)
        client = try AggregatorClient(baseURL: aggregatorURL, node: id, key: key, audience: try RequestAuth.Audience(federation),
                                      pinnedCertificatePEM: federation.aggregator.tlsCertificate)
    }

    /// Runs until the federation finishes or stops at the privacy budget (a planned stop: it returns); throws
    /// ``FederationEndError`` when it failed or the aggregator stayed
    /// unreachable for `giveUpAfter` seconds, and ``ConnectionProblem`` on a TLS failure against the pinned certificate.
    public func run() async throws {
        defer { Task { await client.shutdown() } }
        var done = 0
        var backoff = 0.25
        var local: FederatedModel?
        var update: TrainedUpdate?
        var unreachableSince: Date?
        log("connecting to the aggregator at \(client.base)")
        while true {
            let a: RoundAnnouncement
            do {
                a = try await client.status()
                if unreachableSince != nil { log("reached the aggregator at \(client.base)") }
                unreachableSince = nil
                backoff = 0.25
            } catch let e as AggregatorClient.HTTPFailure where e.status == 401 || e.status == 403 {
                throw FederationError.refusedByAggregator(node: id, status: e.status)
            } catch {
                let problem = ConnectionProblem(error, url: client.base)
                if case .tls = problem { throw problem }
                let since = unreachableSince ?? Date()
                unreachableSince = since
                let waited = Date().timeIntervalSince(since)
                if waited >= giveUpAfter { throw FederationEndError.gaveUp(url: client.base, seconds: giveUpAfter, problem: problem.reason) }
                log("\(problem); retrying in \(String(format: "%.1f", backoff)) s (giving up in \(Int(giveUpAfter - waited)) s)")
                try await Task.sleep(nanoseconds: UInt64(backoff * 1e9))
                backoff = min(backoff * 2, 2)
                continue
            }
            if a.phase == .finished {
                if let failure = a.failure {
                    throw FederationEndError.failed(completed: a.completedRounds ?? 0, rounds: a.rounds, reason: failure)
                }
                if let stop = a.stop {  // a planned stop (the privacy budget): not an error
                    log("federation stopped \(stop.words): \(a.completedRounds ?? 0) of \(a.rounds) round(s) completed")
                    return
                }
                log("federation finished: \(a.completedRounds ?? a.rounds) of \(a.rounds) round(s) completed")
                return
            }
            guard a.round > done, a.phase == .advertiseKeys else {
                try await Task.sleep(nanoseconds: 300_000_000)
                continue
            }
            do {
                let (trained, completed) = try await takePart(in: a, local: local, update: &update)
                local = trained
                // This node's round produced the federation's last model: it is over, whether or not the
                // aggregator is still there to say so (it stops serving soon after).
                if completed, (a.completedRounds.map { $0 + 1 } ?? a.round) >= a.rounds {
                    log("federation finished: \(a.rounds) of \(a.rounds) round(s) completed")
                    return
                }
            } catch let r as ModelRefusal {
                if case let .roundNotIncreasing(offered, last) = r, offered == last {
                    log("round \(a.round): this node joined it before it restarted (that attempt's keys are gone); it rejoins at the next attempt")
                } else {
                    log("round \(a.round): refused: \(r)")
                }
                // Said to the aggregator, so that it does not wait for this node (best effort: it may have moved on).
                do { try await client.decline(round: a.round, session: a.session, reason: DeclineReason(r)) } catch {
                    log("round \(a.round): could not tell the aggregator that this node sits it out: \(ConnectionProblem(error, url: client.base).reason)")
                }
            } catch let e as AggregatorClient.HTTPFailure where e.status == 409 {
                log("round \(a.round) went on without this node (\(e.message)); it rejoins at the next attempt")
            } catch let e as FederationError {
                // Fatal for this node (e.g. a model whose signature does not verify): the aggregator stops waiting for it.
                try? await client.decline(round: a.round, session: a.session, reason: .refusedModel)
                throw e
            } catch {
                let problem = ConnectionProblem(error, url: client.base)
                if case .tls = problem { throw problem }
                log("round \(a.round): left the round: \(problem.reason)")
            }
            done = a.round
        }
    }

    /// A node's update from one global model, kept so that a new attempt from the same model (after an abort or
    /// an aggregator restart) reuses it instead of training again. The update is the same, the masks are new;
    /// `NodeMemory` still lets the node answer at most one unmasking phase per model.
    struct TrainedUpdate: Sendable {
        /// Hash of the global model it was trained from.
        let modelHash: String
        /// Samples used (the aggregation weight).
        let samples: Int
        /// Trained minus global values.
        let delta: [Float]
        /// The trained model (FedBN keeps its local blocks).
        let trained: FederatedModel
        /// Held-out Dice of the global model it was trained from (model selection), nil without.
        let scores: HeldOutScores?
    }

    /// One round: verified model, local training, secure aggregation. Returns the trained local model.
    /// Returns the trained local model and whether the round completed. `update` holds the node's update from
    /// its latest model (kept even when the round then fails, so that a new attempt from the model reuses it).
    func takePart(in a: RoundAnnouncement, local: FederatedModel?,
                  update: inout TrainedUpdate?) async throws -> (FederatedModel, Bool) {
        let mine = federation.fingerprint
        guard a.federationFingerprint == mine else {
            throw FederationError.federationMismatch(node: mine, aggregator: a.federationFingerprint,
                                                     firstDifferingField: FederationFile.firstDifference(federation.fieldDigests, a.federationFields))
        }
        let file = try await client.model()
        let bytes = file.bytes, sigText = file.signature
        let signature: Minisign.Signature
        do throws(Minisign.FormatError) { signature = try Minisign.Signature(text: sigText) } catch {
            throw FederationError.refusedModel(round: a.modelRound, reason: .malformedSignature(path: "/v1/model signature", problem: error))
        }
        let comment: String
        do throws(ModelSignature.Failure) {
            comment = try ModelSignature.verify(fileBytes: bytes, signature: signature, publicKey: aggregatorKey, path: "/v1/model")
        } catch {
            throw FederationError.refusedModel(round: a.modelRound, reason: error)
        }
        let hashBytes = FedCrypto.blake2b256(bytes)
        let h = hex(hashBytes)
        // The round and hash the aggregator signed, never the unsigned announcement, are what this node binds.
        guard let signed = RoundContext.parseTrustedComment(comment), signed.hashHex == h else {
            throw ModelRefusal.trustedCommentMismatch(comment: comment)
        }
        guard signed.modelRound == a.modelRound, h == a.modelHash else {
            throw ModelRefusal.announcementMismatch(announced: "\(a.modelRound) (\(a.modelHash.prefix(16)))",
                                                    signed: "\(signed.modelRound) (\(h.prefix(16)))")
        }
        try await memory.begin(round: a.round, modelRound: signed.modelRound, modelHash: h)
        var global = FederatedModel(strategy: federation.strategy, organs: federation.organNames,
                                    network: federation.network, seed: 0)
        try ModelArtifact.load(bytes: bytes, into: &global, path: "global model round \(a.modelRound)")
        let made: TrainedUpdate
        if let earlier = update, earlier.modelHash == h {
            log("round \(a.round): verified global model of round \(a.modelRound) (\(h.prefix(16))); "
                + "reusing this node's update from it (a new attempt: new keys and masks)")
            made = earlier
        } else {
            log("round \(a.round): verified global model of round \(a.modelRound) (\(h.prefix(16))); training \(federation.localEpochs) epoch(s)")
            var start = global
            if let local {  // FedBN: blocks kept local start from this node's own values.
                for i in start.entryIndices(matching: federation.localPatterns) {
                    let e = start.entries[i]
                    start.values.replaceSubrange(e.range, with: local.values[e.range])
                }
            }
            try await chargePrivacy(round: a.round)
            await onPhase(.training, a.round)
            let (trainer, epochs, round, first, reference, position) = (trainer, federation.localEpochs, a.round, start, global,
                                                                        signed.modelRound)
            // Training and the update's difference run on the compute pool: minutes of work that must not hold a
            // thread of the cooperative pool (the HTTP client's tasks run there).
            // With model selection, the received global model is scored on the held-out cases first.
            let (samples, delta, result, scores) = try await compute.run { () throws -> (Int, [Float], FederatedModel, HeldOutScores?) in
                let scores = try trainer.heldOutScores(model: reference)
                var model = first
                // The schedule's position: the signed round of the verified model (the rounds that produced it).
                let samples = try trainer.train(model: &model, global: reference, epochs: epochs, round: round,
                                                completedRounds: position)
                var delta = model.values
                for i in delta.indices { delta[i] -= reference.values[i] }
                return (samples, delta, model, scores)
            }
            if let scores { log("round \(a.round): held-out Dice of global model \(signed.modelRound): " + scores.summary) }
            made = TrainedUpdate(modelHash: h, samples: samples, delta: delta, trained: result, scores: scores)
            update = made
        }
        let (samples, delta, trained, scores) = (made.samples, made.delta, made.trained, made.scores)
        let clipped = RoundSetup.clippedTensors(model: global, delta: delta, clip: federation.secureAggregation.clip)
        if let top = RoundSetup.largestUpdate(model: global, delta: delta) {
            log(String(format: "round %d: largest update %.4g (%@); secureAggregation.clip %g", a.round, top.largest, top.name,
                       federation.secureAggregation.clip))
        }
        if let worst = clipped.max(by: { $0.largest < $1.largest }) {
            log("round \(a.round): warning: the update of \(clipped.count) tensor(s) exceeds secureAggregation.clip "
                + "\(federation.secureAggregation.clip) and is clipped (largest: \(worst.name) at \(worst.largest)); "
                + "raise the clip in the federation file")
        }
        let config = try RoundSetup.config(federation: federation, model: global, announcement: a,
                                           verifiedModelRound: signed.modelRound, verifiedModelHash: hashBytes)
        let expected = RoundContext(federation, round: a.round, modelRound: signed.modelRound,
                                    modelHash: hashBytes).binding
        let scoreElements = try ValidationVector.elements(federation: federation, scores: scores, samples: samples)
        let update = ClientUpdate(values: delta + scoreElements,
                                  blockWeights: ValidationVector.blockWeights(federation: federation, model: global,
                                                                              organs: organs, samples: samples))
        try await attestPrivacy(round: a.round, session: a.session)
        let sa = try await client.secureAggregation(round: a.round, session: a.session, config: config,
                                                    expectedContext: expected, index: index, identity: key.signingKey,
                                                    update: update, compute: compute,
                                                    beforeUnmasking: { try await memory.reveal(round: a.round) },
                                                    onPhase: onPhase)
        if let reason = sa.abortReason {
            log("round \(a.round) aborted: \(reason)")
            return (trained, false)
        }
        try await memory.complete(round: a.round)
        log("round \(a.round) completed (\(samples) samples contributed)")
        return (trained, true)
    }
}
