import Foundation
import Testing
@testable import Federation

/// Runs `coordinator`'s federation to its end over loopback HTTP with one in-process node per trainer.
func runInProcessFederation(_ coord: Coordinator, federation f: FederationFile, keys: String, port: Int,
                            trainers: [any LocalTrainer], sink: LogSink) async throws {
    try await withThrowingTaskGroup(of: Void.self) { g in
        g.addTask { try await AggregatorService.run(coordinator: coord, federation: f, host: "127.0.0.1", port: port,
                                                     lingerSeconds: 1, log: { sink.append("agg: " + $0) }) }
        for (i, t) in trainers.enumerated() {
            let key = try KeyFiles.loadSecretKey(path: keys + "/node\(i).key")
            let runner = try NodeRunner(federation: f, id: "node\(i)", key: key, trainer: t,
                                        aggregatorURL: f.aggregator.url, log: { sink.append("node\(i): " + $0) })
            g.addTask { try await runner.run() }
        }
        try await g.waitForAll()
    }
}

/// The server optimiser inside real secure rounds: an aggregator restarted between rounds continues with the
/// optimiser state of the last completed round and publishes the model an uninterrupted run would.
@Suite(.serialized) struct ServerOptimizerRoundTests {
    static let trainers = [KnownDeltaTrainer(delta: 0.01, samples: 10), KnownDeltaTrainer(delta: -0.02, samples: 30),
                           KnownDeltaTrainer(delta: 0.05, samples: 20)]

    @Test(.timeLimit(.minutes(5))) func aRestartBetweenRoundsKeepsTheMomentum() async throws {
        let spec = FederationFile.ServerOptimizerSpec(name: .fedavgm, learningRate: 1, beta1: 0.9)
        let dir = try temporaryDirectory()
        let port = freePort()
        let f2 = try smallFederation(dir: dir, rounds: 2, port: port) { $0.serverOptimizer = spec }
        var f1 = f2
        f1.rounds = 1
        let sink = LogSink()
        let aggKey = try KeyFiles.loadSecretKey(path: dir + "/keys/aggregator.key")
        let first = try Coordinator(federation: f1, stateDirectory: dir + "/state", key: aggKey, log: { sink.append("agg: " + $0) })
        let initial = await first.model.values
        try await runInProcessFederation(first, federation: f1, keys: dir + "/keys", port: port, trainers: Self.trainers, sink: sink)
        let afterOne = await first.serverOptimizer
        #expect(afterOne.step == 1, "\(sink.all.joined(separator: "\n"))")

        // The restarted aggregator (the same state folder, the federation's full length) reads the same state.
        let second = try Coordinator(federation: f2, stateDirectory: dir + "/state", key: aggKey, log: { sink.append("agg2: " + $0) })
        #expect(await second.serverOptimizer == afterOne)
        try await runInProcessFederation(second, federation: f2, keys: dir + "/keys", port: port, trainers: Self.trainers, sink: sink)
        let records = try Ledger(path: dir + "/state/ledger.sqlite").verify(aggregatorKey: aggKey.publicKey)
        #expect(records.records.map(\.status) == [.completed, .completed], "\(sink.all.joined(separator: "\n"))")

        // Uninterrupted oracle: each round's mean update is Δ_i = mean · (1 + i % 7) with mean the weighted
        // average of the trainers' deltas; FedAvgM gives x₂ = x₀ + Δ + (0.9 Δ + Δ) = x₀ + 2.9 Δ on trained tensors.
        // A restart that lost the momentum would give x₀ + 2 Δ there instead.
        let mean: Float = (10 * 0.01 + 30 * -0.02 + 20 * 0.05) / 60
        let quantum = Float(2 * f2.secureAggregation.clip) / Float(SecureAggregationBound.levels(f2))
        let model = await second.model
        let final = model.values
        // Batch-norm running statistics are averaged plainly: x₀ + 2 Δ there.
        var factor = [Float](repeating: 2.9, count: final.count)
        for e in model.entries where e.name.hasSuffix(".running_mean") || e.name.hasSuffix(".running_var") {
            for i in e.range { factor[i] = 2 }
        }
        var worst: Float = 0
        for i in initial.indices { worst = max(worst, abs(final[i] - (initial[i] + factor[i] * mean * Float(1 + i % 7)))) }
        // Each round's mean is within one quantum; x₂ weighs round 1's mean by 2.9 and round 2's by 1.
        #expect(worst <= 4 * quantum + 1e-6, "largest deviation \(worst), quantum \(quantum)")
        #expect(await second.serverOptimizer.step == 2)
    }
}
