import Foundation
import Testing
@testable import Federation

/// Issue 15's attacks by a malicious aggregator (``MaliciousAggregator``) against honest in-process nodes.
@Suite(.serialized) struct MaliciousAggregatorTests {
    struct Outcome {
        let sink: LogSink
        let coordinator: Coordinator
        let runners: [NodeRunner]
        let initial: [Float]
        let dir: String
        /// How each node's run ended (nil: it returned).
        let nodeErrors: [Error?]
    }

    /// Runs `f`'s federation through a malicious aggregator that forges as `forgery` says, with three honest nodes
    /// (node state in `dir`/node-state/nodeK when `durable`). The aggregator gives each round one attempt, so an
    /// attack that aborts it ends the federation as failed (issue 22): every node then ends with
    /// ``FederationEndError/failed``, collected in `nodeErrors`.
    func runFederation(dir: String, f: FederationFile, durable: Bool = false,
                       forgery: @escaping (Coordinator, IdentityKey) async throws -> MaliciousAggregator.Forgery) async throws -> Outcome {
        let sink = LogSink()
        let aggKey = try KeyFiles.loadSecretKey(path: dir + "/keys/aggregator.key")
        let coord = try Coordinator(federation: f, stateDirectory: dir + "/state", key: aggKey, attemptsPerRound: 1,
                                    log: { sink.append("agg: " + $0) })
        let initial = await coord.model.values
        let forge = try await forgery(coord, aggKey)
        let port = Int(f.aggregator.url.split(separator: ":").last!)!
        var runners: [NodeRunner] = []
        for i in 0 ..< f.nodes.count {
            let key = try KeyFiles.loadSecretKey(path: dir + "/keys/node\(i).key")
            runners.append(try NodeRunner(federation: f, id: "node\(i)", key: key, trainer: KnownDeltaTrainer(delta: 0.01 * Float(i + 1), samples: 10),
                                          aggregatorURL: f.aggregator.url, stateDirectory: durable ? dir + "/node-state/node\(i)" : nil,
                                          log: { sink.append("node\(i): " + $0) }))
        }
        let nodeErrors = try await withThrowingTaskGroup(of: (Int, Error?)?.self) { g -> [Error?] in
            g.addTask { try await MaliciousAggregator.run(coordinator: coord, federation: f, port: port, forgery: forge,
                                                          log: { sink.append("agg: " + $0) }); return nil }
            for (i, r) in runners.enumerated() { g.addTask { do { try await r.run(); return (i, nil) } catch { return (i, error) } } }
            var out = [Error?](repeating: nil, count: runners.count)
            for try await e in g { if let (i, err) = e { out[i] = err } }
            return out
        }
        return Outcome(sink: sink, coordinator: coord, runners: runners, initial: initial, dir: dir, nodeErrors: nodeErrors)
    }

    func ledgerStatuses(_ o: Outcome) throws -> [RoundStatus] {
        let key = try KeyFiles.loadSecretKey(path: o.dir + "/keys/aggregator.key")
        return try Ledger(path: o.dir + "/state/ledger.sqlite").verify(aggregatorKey: key.publicKey).records.map(\.status)
    }

    /// Model inconsistency: node1 and node2 get a crafted, validly signed model (same round, other values); node0,
    /// the target, gets the real one. Had the round completed, the sum would hold the target's update next to two
    /// updates from a model of the attacker's choosing. The honest nodes bind the hash of the model they verified
    /// into the configuration they sign, so the target refuses the others' keys: the round aborts before any
    /// masked input, nothing is unmasked, and the global model stays as it was.
    @Test(.timeLimit(.minutes(5))) func modelInconsistencyIsRefused() async throws {
        let dir = try temporaryDirectory()
        let f = try smallFederation(dir: dir, rounds: 1, port: freePort()) { $0.trainingTimeoutSeconds = 20; $0.phaseTimeoutSeconds = 10 }
        let o = try await runFederation(dir: dir, f: f) { coord, key in
            let crafted = try MaliciousAggregator.craftedModel(from: await coord.model, federation: f, modelRound: 0, scale: 0.5, key: key)
            return { node, _ in node == "node0" ? nil : (crafted, 0, true) }
        }
        let log = o.sink.all.joined(separator: "\n")
        #expect(try ledgerStatuses(o) == [.aborted], "\(log)")
        #expect(o.nodeErrors.allSatisfy { if case .failed(0, 1, _)? = $0 as? FederationEndError { true } else { false } }, "\(o.nodeErrors)")
        #expect(await o.coordinator.model.values == o.initial, "the global model changed")
        for r in o.runners {
            let attempts = await r.memory.state.attempts
            #expect(attempts.count == 1 && attempts.allSatisfy { !$0.revealed }, "\(r.id) revealed: \(attempts)")
        }
        #expect(!o.sink.all.contains { $0.contains("completed (") }, "\(log)")
        // The target verified the real model; the others verified the crafted one.
        let hashes = await o.runners.asyncMap { await $0.memory.state.attempts.first?.modelHash }
        #expect(hashes[0] != hashes[1] && hashes[1] == hashes[2])
    }

    /// Rollback: after round 1 produced global model 1, the aggregator hands every node the validly signed model 0
    /// again in round 2 (consistently, so the configurations agree). Each node refuses an older model than one it
    /// verified, and logs why.
    @Test(.timeLimit(.minutes(5))) func rollbackToAnOlderModelIsRefused() async throws {
        let dir = try temporaryDirectory()
        let f = try smallFederation(dir: dir, rounds: 2, port: freePort()) { $0.trainingTimeoutSeconds = 8; $0.phaseTimeoutSeconds = 10 }
        let o = try await runFederation(dir: dir, f: f) { coord, _ in
            let model0 = try await coord.currentModelFiles()
            return { _, round in round == 2 ? (model0, 0, true) : nil }
        }
        let log = o.sink.all.joined(separator: "\n")
        #expect(try ledgerStatuses(o) == [.completed, .aborted], "\(log)")
        #expect(o.nodeErrors.allSatisfy { if case .failed(1, 2, _)? = $0 as? FederationEndError { true } else { false } }, "\(o.nodeErrors)")
        for r in o.runners {
            let attempts = await r.memory.state.attempts
            #expect(attempts.map(\.round) == [1] && attempts.map(\.modelRound) == [0], "\(r.id): \(attempts)")
            #expect(o.sink.all.contains { $0.hasPrefix("\(r.id): round 2: refused: ") && $0.contains("older than model 1") }, "\(log)")
        }
    }

    /// Refusals before any training: a model signed by a key that is not the federation's aggregator key (the
    /// node stops: its federation file and the aggregator disagree), and a validly signed model other than the
    /// one the round's announcement names (the node refuses the round and says why).
    @Test(.timeLimit(.minutes(5))) func aForeignSignerOrAnUnannouncedModelIsRefused() async throws {
        let dir = try temporaryDirectory()
        let f = try smallFederation(dir: dir, rounds: 1, port: freePort()) { $0.trainingTimeoutSeconds = 6; $0.phaseTimeoutSeconds = 5 }
        try KeyFiles.generate(id: "stranger", directory: dir + "/other")
        let stranger = try KeyFiles.loadSecretKey(path: dir + "/other/stranger.key")
        let sink = LogSink()
        let aggKey = try KeyFiles.loadSecretKey(path: dir + "/keys/aggregator.key")
        let coord = try Coordinator(federation: f, stateDirectory: dir + "/state", key: aggKey, attemptsPerRound: 1,
                                    log: { sink.append("agg: " + $0) })
        let foreign = try MaliciousAggregator.craftedModel(from: await coord.model, federation: f, modelRound: 0, scale: 1, key: stranger)
        let unannounced = try MaliciousAggregator.craftedModel(from: await coord.model, federation: f, modelRound: 0, scale: 0.5, key: aggKey)
        let port = Int(f.aggregator.url.split(separator: ":").last!)!
        let server = Task {
            try await MaliciousAggregator.run(coordinator: coord, federation: f, port: port, forgery: { node, _ in
                node == "node0" ? (foreign, 0, true) : node == "node1" ? (unannounced, 0, false) : nil
            }, log: { sink.append("agg: " + $0) })
        }
        defer { server.cancel() }
        func runner(_ i: Int) throws -> NodeRunner {
            try NodeRunner(federation: f, id: "node\(i)", key: try KeyFiles.loadSecretKey(path: dir + "/keys/node\(i).key"),
                           trainer: KnownDeltaTrainer(delta: 0.01, samples: 10), aggregatorURL: f.aggregator.url,
                           log: { sink.append("node\(i): " + $0) })
        }
        let node0 = try runner(0)
        await #expect { try await node0.run() } throws: { e in
            e as? FederationError == .refusedModel(round: 0, reason: .wrongKey(path: "/v1/model", expected: aggKey.publicKey.keyIDHex,
                                                                                found: stranger.publicKey.keyIDHex))
        }
        // node1 refuses; the round's one attempt aborts and the federation ends as failed (issue 22).
        let node1 = try runner(1)
        await #expect { try await node1.run() } throws: { e in
            if case .failed(0, 1, _) = e as? FederationEndError { return true }
            return false
        }
        #expect(sink.all.contains { $0.hasPrefix("node1: round 1: refused: the announcement names model 0") }, "\(sink.all.joined(separator: "\n"))")
        #expect(await node0.memory.state.attempts.isEmpty)
        #expect(await node1.memory.state.attempts.isEmpty)
    }
}

extension Array {
    func asyncMap<T>(_ f: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await f(e)) }
        return out
    }
}
