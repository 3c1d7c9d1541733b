import Foundation
import Testing
@testable import Federation

/// A trainer with known updates whose held-out scores follow a script: its k-th call (round k + 1, scoring
/// global model k) reports `script[k]` as (Dice sum, 2 cases) for its organ.
final class ScriptedScoreTrainer: LocalTrainer, @unchecked Sendable {  // `lock` guards `calls`
    let inner: KnownDeltaTrainer
    let organ: String
    let script: [Double]
    private let lock = NSLock()
    private var calls = 0
    init(delta: Float, samples: Int, organ: String, script: [Double]) {
        inner = KnownDeltaTrainer(delta: delta, samples: samples)
        self.organ = organ
        self.script = script
    }
    func train(model: inout FederatedModel, epochs: Int, round: Int) throws -> Int {
        try inner.train(model: &model, epochs: epochs, round: round)
    }
    func heldOutScores(model: FederatedModel) throws -> HeldOutScores? {
        lock.lock(); defer { lock.unlock() }
        defer { calls += 1 }
        return HeldOutScores(organs: [organ: (script[min(calls, script.count - 1)], 2)])
    }
}

/// Held-out scores through real secure rounds (in process, over loopback HTTP): the aggregator learns the plain
/// sums, attributes them to the model the round started from, and signs the best one as `global-best`.
@Suite(.serialized) struct ModelSelectionRoundTests {
    @Test(.timeLimit(.minutes(5))) func scoresAreSummedSecurelyAndTheBestModelIsSigned() async throws {
        let dir = try temporaryDirectory()
        let port = freePort()
        // node0, node2 annotate liver; node1 alone annotates spleen, so spleen scores are never sent (one node's
        // score would be the sum) and the selection falls back to the pooled mean.
        let f = try smallFederation(dir: dir, nodes: 3, rounds: 3, port: port) { $0.modelSelection = .init(heldOutCases: 2) }
        let trainers = [ScriptedScoreTrainer(delta: 0.01, samples: 10, organ: "liver", script: [0.20, 1.50, 0.90]),
                        ScriptedScoreTrainer(delta: -0.02, samples: 30, organ: "spleen", script: [1.9, 1.9, 1.9]),
                        ScriptedScoreTrainer(delta: 0.05, samples: 20, organ: "liver", script: [0.60, 1.70, 1.95])]
        let sink = LogSink()
        let aggKey = try KeyFiles.loadSecretKey(path: dir + "/keys/aggregator.key")
        let coord = try Coordinator(federation: f, stateDirectory: dir + "/state", key: aggKey, log: { sink.append("agg: " + $0) })
        try await runInProcessFederation(coord, federation: f, keys: dir + "/keys", port: port, trainers: trainers, sink: sink)
        let check = try Ledger(path: dir + "/state/ledger.sqlite").verify(aggregatorKey: aggKey.publicKey)
        #expect(check.ok)
        #expect(check.records.map(\.status) == [.completed, .completed, .completed], "\(sink.all.joined(separator: "\n"))")
        // Plain sums per round: liver = node0 + node2 over 4 cases; spleen never sent.
        let liver = [0.80, 3.20, 2.85]
        // Quantisation bound, from the test's own arithmetic: released weight 60, B = 2, levels for 3 nodes.
        let levels = Double((UInt64(1) << 32) - 1) / Double(3 * 4096)
        let bound = 60 * 2 * 2 / levels.rounded(.down) + 1e-5
        for (i, r) in check.records.enumerated() {
            let v = try #require(r.validation)
            #expect(v.modelRound == i, "round \(r.round)'s scores evaluate model \(i)")
            #expect(abs((v.diceSums["liver"] ?? -1) - liver[i]) <= bound, "\(v.diceSums) vs \(liver[i])")
            #expect(abs(v.diceSums["spleen"] ?? -1) <= bound)
            #expect(v.counts == ["liver": 4, "spleen": 0])
            #expect(v.basis == "pooled" && v.annotatingSurvivors == ["liver": 2, "spleen": 1])
            #expect(abs((v.score ?? -1) - liver[i] / 4) <= bound)
        }
        // Model 1 scored best (3.20 / 4); the final model (round 3) is never scored.
        #expect(check.records.map(\.bestModelRound) == [0, 1, 1])
        #expect(await coord.selection.best?.round == 1)
        let best = ModelStore.bestPath(stateDirectory: dir + "/state")
        let (bytes, comment) = try ModelSignature.verifyFile(path: best, publicKey: aggKey.publicKey)
        let round1 = try ModelSignature.verifyFile(path: ModelStore.path(stateDirectory: dir + "/state", round: 1),
                                                   publicKey: aggKey.publicKey)
        #expect(bytes == round1.bytes)
        #expect(comment.hasPrefix("segviz best global model round=1 "))
        #expect(RoundContext.parseTrustedComment(comment) == nil)  // never mistaken for a round's model
        // A restarted aggregator replays the ledger to the same choice (and leaves the intact copy alone).
        let again = try Coordinator(federation: f, stateDirectory: dir + "/state", key: aggKey, log: { _ in })
        #expect(await again.selection == coord.selection)
    }
}
