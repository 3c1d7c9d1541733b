import Foundation
import SecureAggregation
import Tensor

/// Local training at a node: trains `model` in place for `epochs` and returns the sample count it used
/// (its aggregation weight).
public protocol LocalTrainer: Sendable {
    /// Trains in place; `round` seeds the node's randomness.
    func train(model: inout FederatedModel, epochs: Int, round: Int) throws -> Int
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

    /// Creates a runner for node `id` of `federation`.
    public init(federation: FederationFile, id: String, key: IdentityKey, trainer: any LocalTrainer,
                aggregatorURL: String, stateDirectory: String? = nil, compute: ComputePool = .shared,
                log: @escaping @Sendable (String) -> Void,
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
        organs = federation.nodes[idx].organs
        index = UInt32(idx)
        aggregatorKey = try federation.aggregatorKey()
        memory = try NodeMemory(federation: federation.name, node: id, directory: stateDirectory)
        client = try AggregatorClient(baseURL: aggregatorURL, node: id, key: key, audience: try RequestAuth.Audience(federation),
                                      pinnedCertificatePEM: federation.aggregator.tlsCertificate)
    }

    /// Runs until the federation finishes.
    public func run() async throws {
        defer { Task { await client.shutdown() } }
        var done = 0
        var backoff = 0.25
        var local: FederatedModel?
        while true {
            let a: RoundAnnouncement
            do {
                a = try await client.status()
                backoff = 0.25
            } catch let e as AggregatorClient.HTTPFailure where e.status == 401 || e.status == 403 {
                throw FederationError.refusedByAggregator(node: id, status: e.status)
            } catch {
                if done >= federation.rounds {
                    log("aggregator gone after the last round (\(federation.rounds)); this node is done")
                    return
                }
                log("aggregator unreachable (\(error)); retrying in \(String(format: "%.1f", backoff)) s")
                try await Task.sleep(nanoseconds: UInt64(backoff * 1e9))
                backoff = min(backoff * 2, 10)
                continue
            }
            if a.phase == .finished { log("federation finished after \(a.rounds) rounds"); return }
            guard a.round > done, a.phase == .advertiseKeys else {
                try await Task.sleep(nanoseconds: 300_000_000)
                continue
            }
            do {
                local = try await takePart(in: a, local: local)
                // The last round ended (completed or aborted) with this node in it: the federation is over,
                // whether or not the aggregator is still there to say so (it stops serving soon after).
                if a.round >= a.rounds { log("federation finished after \(a.rounds) rounds"); return }
            } catch let r as ModelRefusal {
                log("round \(a.round): refused: \(r)")
            } catch let e as AggregatorClient.HTTPFailure where e.status == 409 {
                log("round \(a.round) moved on without this node (\(e.message))")
            } catch let e as FederationError {
                throw e
            } catch {
                log("round \(a.round): left the round: \(error)")
            }
            done = a.round
        }
    }

    /// One round: verified model, local training, secure aggregation. Returns the trained local model.
    func takePart(in a: RoundAnnouncement, local: FederatedModel?) async throws -> FederatedModel {
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
        log("round \(a.round): verified global model of round \(a.modelRound) (\(h.prefix(16))); training \(federation.localEpochs) epoch(s)")
        var trained = global
        if let local {  // FedBN: blocks kept local start from this node's own values.
            for i in trained.entryIndices(matching: federation.localPatterns) {
                let e = trained.entries[i]
                trained.values.replaceSubrange(e.range, with: local.values[e.range])
            }
        }
        await onPhase(.training, a.round)
        let (trainer, epochs, round, start, reference) = (trainer, federation.localEpochs, a.round, trained, global)
        // Training and the update's difference run on the compute pool: minutes of work that must not hold a
        // thread of the cooperative pool (the HTTP client's tasks run there).
        let (samples, delta, result) = try await compute.run { () throws -> (Int, [Float], FederatedModel) in
            var model = start
            let samples = try trainer.train(model: &model, epochs: epochs, round: round)
            var delta = model.values
            for i in delta.indices { delta[i] -= reference.values[i] }
            return (samples, delta, model)
        }
        trained = result
        let clipped = RoundSetup.clippedTensors(model: global, delta: delta, clip: federation.secureAggregation.clip)
        if let worst = clipped.max(by: { $0.largest < $1.largest }) {
            log("round \(a.round): warning: the update of \(clipped.count) tensor(s) exceeds secureAggregation.clip "
                + "\(federation.secureAggregation.clip) and is clipped (largest: \(worst.name) at \(worst.largest)); "
                + "raise the clip in the federation file")
        }
        let config = try RoundSetup.config(federation: federation, model: global, announcement: a,
                                           verifiedModelRound: signed.modelRound, verifiedModelHash: hashBytes)
        let expected = RoundContext(federation, round: a.round, modelRound: signed.modelRound,
                                    modelHash: hashBytes).binding
        let update = ClientUpdate(values: delta, blockWeights: RoundSetup.blockWeights(model: global, organs: organs,
                                                                                       samples: samples))
        let sa = try await client.secureAggregation(round: a.round, session: a.session, config: config,
                                                    expectedContext: expected, index: index, identity: key.signingKey,
                                                    update: update, compute: compute,
                                                    beforeUnmasking: { try await memory.reveal(round: a.round) },
                                                    onPhase: onPhase)
        if let reason = sa.abortReason { log("round \(a.round) aborted: \(reason)") } else {
            try await memory.complete(round: a.round)
            log("round \(a.round) completed (\(samples) samples contributed)")
        }
        return trained
    }
}
