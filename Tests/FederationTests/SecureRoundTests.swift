import Foundation
import Testing
@testable import Federation

/// A trainer whose result is known: adds `delta * (1 + i % 7)` to every value and reports `samples`.
struct KnownDeltaTrainer: LocalTrainer {
    let delta: Float
    let samples: Int
    func train(model: inout FederatedModel, epochs: Int, round: Int) throws -> Int {
        for i in model.values.indices { model.values[i] += delta * Float(1 + i % 7) }
        return samples
    }
}

/// Collects log lines from concurrent tasks.
final class LogSink: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}

func smallFederation(dir: String, nodes: Int = 3, rounds: Int = 2, port: Int,
                     customise: (inout FederationFile) -> Void = { _ in }) throws -> FederationFile {
    let specs = (0..<nodes).map { FederationSetup.NodeSpec(id: "node\($0)", organs: $0 % 2 == 0 ? ["liver"] : ["spleen"]) }
    return try FederationSetup.create(keysDirectory: dir + "/keys", name: "test", url: "http://127.0.0.1:\(port)",
                                      nodes: specs) { f in
        f.network = .init(channels: [4, 8, 16], strides: [2, 2], numResUnits: 2, norm: "batch")
        f.rounds = rounds
        f.localEpochs = 1
        // No node is meant to drop out in these in-process rounds: generous deadlines keep them from aborting
        // when parallel tests starve the task pool on a 2-core machine.
        f.phaseTimeoutSeconds = 30
        f.trainingTimeoutSeconds = 120
        f.secureAggregation.clip = 1
        customise(&f)
    }
}

func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

@Suite(.serialized) struct SecureRoundTests {
    @Test func globalModelIsTheWeightedAverageOfTheNodes() async throws {
        let dir = try temporaryDirectory()
        let port = freePort()
        let f = try smallFederation(dir: dir, rounds: 1, port: port)
        let sink = LogSink()
        let aggKey = try KeyFiles.loadSecretKey(path: dir + "/keys/aggregator.key")
        let coord = try Coordinator(federation: f, stateDirectory: dir + "/state", key: aggKey, log: { sink.append("agg: " + $0) })
        let initial = await coord.model.values
        let trainers = [KnownDeltaTrainer(delta: 0.01, samples: 10), KnownDeltaTrainer(delta: -0.02, samples: 30),
                        KnownDeltaTrainer(delta: 0.05, samples: 20)]
        try await runInProcessFederation(coord, federation: f, keys: dir + "/keys", port: port, trainers: trainers, sink: sink)
        let records = try Ledger(path: dir + "/state/ledger.sqlite").verify(aggregatorKey: aggKey.publicKey)
        #expect(records.ok)
        #expect(records.records.map(\.status) == [.completed], "\(sink.all.joined(separator: "\n"))")
        let final = await coord.model.values
        // Expected: initial + sum(w_k * d_k) / sum(w_k), per element.
        let wsum: Float = 60
        let mean: Float = (10 * 0.01 + 30 * -0.02 + 20 * 0.05) / wsum
        let quantum = Float(2 * f.secureAggregation.clip) / Float(SecureAggregationBound.levels(f))
        var worst: Float = 0
        for i in initial.indices {
            let expected = initial[i] + mean * Float(1 + i % 7)
            worst = max(worst, abs(final[i] - expected))
        }
        #expect(worst <= quantum * 1.01 + 1e-6, "largest deviation \(worst), quantum \(quantum)")
        // The global model differs from every node's local model.
        for t in trainers {
            let local = initial.indices.map { initial[$0] + t.delta * Float(1 + $0 % 7) }
            let same = zip(local, final).filter { abs($0 - $1) < 1e-4 }.count
            #expect(same < final.count / 100)
        }
    }
}

/// A node warns when its update exceeds the federation's clipping range (it would be clipped before masking).
@Suite struct ClippingWarningTests {
    @Test func tensorsBeyondTheClipAreNamed() throws {
        let net = FederationFile.NetworkSpec(channels: [4, 8, 16], strides: [2, 2], numResUnits: 1, norm: "batch")
        let model = FederatedModel(strategy: .single, organs: ["liver", "spleen"], network: net, seed: 1)
        var delta = [Float](repeating: 0.01, count: model.values.count)
        #expect(RoundSetup.clippedTensors(model: model, delta: delta, clip: 8).isEmpty)
        let e = model.entries[3]
        delta[e.offset + e.count - 1] = -24.8
        let clipped = RoundSetup.clippedTensors(model: model, delta: delta, clip: 8)
        #expect(clipped.count == 1 && clipped[0].name == e.name && clipped[0].largest == 24.8)
    }
}
