import Foundation
import Tensor
import Testing
@testable import Federation

/// The server optimisers of Reddi et al. (ICLR 2021, Algorithm 2) against hand-computed steps, their state on
/// disk, and their configuration in the federation file.
@Suite struct ServerOptimizerTests {
    typealias Spec = FederationFile.ServerOptimizerSpec
    /// Two parameters, x₀ = (1, −2), and two rounds' mean updates Δ₁ = (0.1, −0.2), Δ₂ = (0.3, 0).
    static let start: [Float] = [1, -2]
    static let updates: [[Float]] = [[0.1, -0.2], [0.3, 0]]

    func run(_ spec: Spec) -> [[Float]] {
        var opt = ServerOptimizer(spec: spec, count: 2)
        var x = Self.start
        return Self.updates.map { d in
            opt.apply(to: &x, delta: d, optimised: [0..<2])
            return x
        }
    }

    func expectClose(_ got: [[Float]], _ want: [[Double]], tolerance: Double = 2e-6) {
        for (g, w) in zip(got, want) { for (a, b) in zip(g, w) { #expect(abs(Double(a) - b) <= tolerance, "\(g) vs \(w)") } }
    }

    @Test func fedAvgAddsTheMeanUpdate() {
        expectClose(run(.fedavg), [[1.1, -2.2], [1.4, -2.2]])
    }

    @Test func fedAvgMAccumulatesMomentum() {
        // m₁ = Δ₁ = (0.1, −0.2), x₁ = (1.1, −2.2); m₂ = 0.9 m₁ + Δ₂ = (0.39, −0.18), x₂ = x₁ + m₂ = (1.49, −2.38).
        expectClose(run(Spec(name: .fedavgm, learningRate: 1, beta1: 0.9)), [[1.1, -2.2], [1.49, -2.38]])
    }

    @Test func fedAdamStepsByTheNormalisedMoment() {
        // Element 0, round 1: m = 0.1 · 0.1 = 0.01; v = 0.99 · τ² + 0.01 · 0.1² = 1.0099e-4; √v = 0.0100494;
        // x = 1 + 0.1 · 0.01 / (0.0100494 + 0.001) = 1.0905028. Round 2: m = 0.009 + 0.03 = 0.039,
        // v = 0.99 · 1.0099e-4 + 0.01 · 0.09 = 9.999801e-4, x = 1.0905028 + 0.1 · 0.039 / (0.0316225 + 0.001) = 1.2100524.
        expectClose(run(Spec(name: .fedadam, learningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3)),
                    [[1.090502831, -2.095126052], [1.210052361, -2.181150190]])
    }

    @Test func fedYogiMovesTheSecondMomentAdditively() {
        // Round 1: v = τ² − 0.01 · Δ² · sign(τ² − Δ²) = 1e-6 + 1e-4 (Adam: 0.99e-6 + 1e-4). Round 2, element 1:
        // Δ = 0, so v stays 4.01e-4 (Adam would decay it to 3.9698e-4).
        expectClose(run(Spec(name: .fedyogi, learningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3)),
                    [[1.090498756, -2.095124922], [1.209989234, -2.180737352]])
    }

    @Test func frozenAndUnoptimisedRangesBehaveAsFedAvgOrStayPut() {
        var opt = ServerOptimizer(spec: Spec(name: .fedavgm, learningRate: 1, beta1: 0.5), count: 4)
        var x: [Float] = [0, 0, 0, 0]
        // 0..<2 optimised, 2 plain (a running statistic), 3 frozen (nobody contributed).
        for _ in 0..<2 { opt.apply(to: &x, delta: [1, 1, 1, 1], optimised: [0..<2], frozen: [3..<4]) }
        #expect(x == [2.5, 2.5, 2, 0])  // m: 1 then 1.5 -> 1 + 1.5; plain: 1 + 1; frozen: unchanged
        #expect(opt.momentum[3] == 0 && opt.step == 2)
    }

    @Test func batchNormRunningStatisticsAreNotOptimised() {
        let net = FederationFile.NetworkSpec(channels: [4, 8], strides: [2], numResUnits: 1, norm: "batch")
        let model = FederatedModel(strategy: .single, organs: ["liver", "spleen"], network: net, seed: 1)
        let ranges = ServerOptimizer.optimisedRanges(model)
        let running = model.entries.filter { $0.name.hasSuffix("running_var") }
        #expect(!running.isEmpty)
        for e in running { #expect(!ranges.contains(e.range)) }
        #expect(ranges.count == model.entries.count - 2 * running.count)
    }

    @Test func stateSurvivesARestartBitForBit() throws {
        let dir = try temporaryDirectory()
        let spec = Spec(name: .fedadam, learningRate: 0.05)
        var rng = SystemRandomNumberGenerator()
        let updates = (0..<3).map { _ in (0..<50).map { _ in Float.random(in: -0.1...0.1, using: &rng) } }
        var uninterrupted = ServerOptimizer(spec: spec, count: 50)
        var x = [Float](repeating: 0.5, count: 50)
        for u in updates { uninterrupted.apply(to: &x, delta: u, optimised: [0..<50]) }

        let store = try ServerOptimizerStore(stateDirectory: dir)
        var first = ServerOptimizer(spec: spec, count: 50)
        var y = [Float](repeating: 0.5, count: 50)
        first.apply(to: &y, delta: updates[0], optimised: [0..<50])
        try store.save(first, round: 1, keepFrom: 0)
        var resumed = try ServerOptimizerStore(stateDirectory: dir).load(round: 1, spec: spec, count: 50)
        #expect(resumed == first)
        for u in updates.dropFirst() { resumed.apply(to: &y, delta: u, optimised: [0..<50]) }
        #expect(y == x)
        #expect(resumed == uninterrupted && resumed.step == 3)
    }

    @Test func aMissingOrForeignStateIsRefusedByName() throws {
        let dir = try temporaryDirectory()
        let store = try ServerOptimizerStore(stateDirectory: dir)
        let spec = Spec(name: .fedavgm, learningRate: 1)
        #expect(try store.load(round: 0, spec: spec, count: 3) == ServerOptimizer(spec: spec, count: 3))
        #expect(try store.load(round: 4, spec: .fedavg, count: 3).step == 0)  // plain FedAvg has nothing to lose
        #expect(throws: FederationError.self) { _ = try store.load(round: 4, spec: spec, count: 3) }
        try store.save(ServerOptimizer(spec: spec, count: 3), round: 4, keepFrom: 3)
        #expect(throws: FederationError.self) { _ = try store.load(round: 4, spec: Spec(name: .fedavgm, learningRate: 0.5), count: 3) }
        #expect(throws: FederationError.self) { _ = try store.load(round: 4, spec: spec, count: 4) }
        // Older states than the previous completed round are pruned.
        try store.save(ServerOptimizer(spec: spec, count: 3), round: 5, keepFrom: 4)
        try store.save(ServerOptimizer(spec: spec, count: 3), round: 6, keepFrom: 5)
        #expect(!FileManager.default.fileExists(atPath: store.path(round: 4)))
        #expect(FileManager.default.fileExists(atPath: store.path(round: 5)))
    }
}

/// `serverOptimizer` in the federation file: absent keeps plain FedAvg and the old canonical form.
@Suite struct ServerOptimizerConfigTests {
    func file(_ extra: String) throws -> (FederationFile?, [FederationProblem]) {
        try Self.file(extra, nodes: [.init(id: "a", organs: ["liver"]), .init(id: "b", organs: ["liver"])])
    }

    /// A new federation file of `nodes` with `extra` (`, "field": value`) added after its version, through the validator.
    static func file(_ extra: String, nodes: [FederationSetup.NodeSpec]) throws -> (FederationFile?, [FederationProblem]) {
        let dir = try temporaryDirectory()
        let f = try FederationSetup.create(keysDirectory: dir, name: "t", url: "http://127.0.0.1:1", nodes: nodes)
        var text = String(decoding: try f.encoded(), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"version\" : 2", with: "\"version\" : 2" + extra)
        return FederationValidator.check(Data(text.utf8))
    }

    @Test func absentMeansFedAvgAndLeavesTheFingerprintAlone() throws {
        let (f, problems) = try file("")
        #expect(problems.isEmpty)
        #expect(f?.serverOptimizer == nil && f?.effectiveServerOptimizer.name == .fedavg)
        #expect(f.map { !$0.canonicalText().contains("serverOptimizer") } == true)
    }

    @Test func aGivenOptimiserDecodesWithDefaults() throws {
        let (f, problems) = try file(", \"serverOptimizer\": {\"name\": \"fedadam\", \"learningRate\": 0.03}")
        #expect(problems.isEmpty)
        #expect(f?.serverOptimizer == FederationFile.ServerOptimizerSpec(name: .fedadam, learningRate: 0.03, beta1: 0.9,
                                                                          beta2: 0.99, tau: 0.001))
    }

    @Test func badOptimisersNameTheField() throws {
        let (_, unknown) = try file(", \"serverOptimizer\": {\"name\": \"fedprox\", \"learningRate\": 1}")
        #expect(unknown.map(\.field) == ["serverOptimizer.name"])
        let (_, missing) = try file(", \"serverOptimizer\": {\"name\": \"fedavgm\"}")
        #expect(missing.map(\.field) == ["serverOptimizer.learningRate"])
        let (_, beta) = try file(", \"serverOptimizer\": {\"name\": \"fedavgm\", \"learningRate\": 1, \"beta1\": 1}")
        #expect(beta.map(\.field) == ["serverOptimizer.beta1"])
    }

    @Test func theModelManifestNamesTheOptimiser() throws {
        let dir = try temporaryDirectory()
        let f = try FederationSetup.create(keysDirectory: dir, name: "t", url: "http://127.0.0.1:1",
                                           nodes: [.init(id: "a", organs: ["liver"]), .init(id: "b", organs: ["liver"])]) {
            $0.network = .init(channels: [4, 8], strides: [2], numResUnits: 1, norm: "batch")
            $0.serverOptimizer = .init(name: .fedyogi, learningRate: 0.02)
        }
        let model = FederatedModel(strategy: .single, organs: f.organNames, network: f.network, seed: 1)
        let bytes = ModelArtifact.encode(model: model, federation: f, round: 3, participants: [], previousModelHash: "",
                                         previousRecordHash: "")
        let meta = try SafetensorsFile.decode(bytes).metadata
        #expect(meta["server_optimizer"] == #"{"beta1":0.9,"beta2":0.99,"learningRate":0.02,"name":"fedyogi","tau":0.001}"#)
    }
}
