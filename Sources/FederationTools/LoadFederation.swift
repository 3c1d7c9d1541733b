import Federation
import Foundation
import NN
import SecureAggregation

/// The federation `segviz bench load` runs: N generated node keys, a U-Net scaled to the wanted size, and
/// the simulated nodes' side of each round.
public struct LoadFederation: Sendable {
    public let federation: FederationFile
    public let fedPath: String
    public let statePath: String
    public let template: FederatedModel
    public let keys: [IdentityKey]
    public let port: Int

    /// Thrown by a simulated node's phase hook to vanish from the round, as a crash would.
    public struct Dropout: Error {}

    public init(directory: String, nodes: Int, neighbours: Int?, params: Int?, rounds: Int, phaseTimeout: Double) throws {
        port = try freeLoopbackPort()
        let network = Self.network(approximateParameters: params)
        let k = min(neighbours ?? 16, nodes - 1)
        let holders = k + 1
        let ids = (0 ..< nodes).map { String(format: "node-%03d", $0) }
        federation = try FederationSetup.create(keysDirectory: "\(directory)/keys", name: "bench-load", url: "http://127.0.0.1:\(port)",
                                                nodes: ids.map { .init(id: $0, organs: ["liver", "spleen"]) }) { f in
            f.network = network
            f.rounds = rounds
            f.localEpochs = 1
            f.secureAggregation.neighbours = k < nodes - 1 ? k : nil
            f.secureAggregation.threshold = 2 * holders / 3 + 1
            f.phaseTimeoutSeconds = phaseTimeout
            f.trainingTimeoutSeconds = 600
        }
        fedPath = "\(directory)/keys/federation.json"
        statePath = "\(directory)/state"
        keys = try ids.map { try KeyFiles.loadSecretKey(path: "\(directory)/keys/\($0).key") }
        template = FederatedModel(strategy: federation.strategy, organs: federation.organNames, network: network, seed: 0)
    }

    /// The demo's U-Net, or channels [c, 2c, 4c, 8c] with c chosen so that the model has about `target` parameters.
    public static func network(approximateParameters target: Int?) -> FederationFile.NetworkSpec {
        var spec = FederationFile.NetworkSpec(channels: [8, 16, 32, 64], strides: [2, 2, 2], numResUnits: 2, norm: "batch")
        guard let target else { return spec }
        func count(_ c: Int) -> Int {
            spec.channels = [c, 2 * c, 4 * c, 8 * c]
            return FederatedModel(strategy: .single, organs: ["liver", "spleen"], network: spec, seed: 0).values.count
        }
        var lo = 1, hi = 256
        while lo < hi {
            let mid = (lo + hi) / 2
            if count(mid) < target { lo = mid + 1 } else { hi = mid }
        }
        if lo > 1, abs(count(lo - 1) - target) < abs(count(lo) - target) { lo -= 1 }
        spec.channels = [lo, 2 * lo, 4 * lo, 8 * lo]
        return spec
    }

    /// One signed HTTP client per node.
    public func clients() throws -> [AggregatorClient] {
        try federation.nodes.enumerated().map { i, n in
            try AggregatorClient(baseURL: federation.aggregator.url, node: n.id, key: keys[i],
                                 audience: try RequestAuth.Audience(federation))
        }
    }

    /// Polls the aggregator's status until it answers (60 s at most).
    public func waitUntilListening(_ client: AggregatorClient) async throws {
        let until = Date().addingTimeInterval(60)
        while true {
            do { _ = try await client.status(); return } catch {
                guard Date() < until else { throw ToolError.invalid("the aggregator did not answer within 60 s: \(error)") }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
        }
    }

    /// Node `i`'s part in round `r`: waits for the round's key advertisement phase, then runs secure
    /// aggregation with a random update. Returns a problem, or nil when the round completed for it (or it
    /// dropped out as told).
    /// The masked inputs of all nodes that stay are held back until every one is ready (`release`), then
    /// posted together: the worst case for the aggregator's memory.
    public func simulateNode(_ i: Int, round r: Int, client: AggregatorClient, dropOut: Bool, release: Barrier) async throws -> String? {
        let until = Date().addingTimeInterval(300)
        var a = try await client.status()
        while !(a.round == r && a.phase == .advertiseKeys) {
            if a.round > r || a.phase == .finished || Date() > until {
                return "node \(i) could not join round \(r) (aggregator is at round \(a.round), \(a.phase))"
            }
            try await Task.sleep(nanoseconds: 50_000_000)
            a = try await client.status()
        }
        // A load-test node trusts the announcement (it measures the aggregator, it does not guard a hospital).
        let config = try RoundSetup.config(federation: federation, model: template, announcement: a,
                                           verifiedModelRound: a.modelRound, verifiedModelHash: try Hex.decode(a.modelHash, field: "announcement.modelHash"))
        var random = SplitMix64(seed: UInt64(r) << 32 | UInt64(i))
        let values = (0 ..< template.values.count).map { _ in random.nextSymmetricUnit() * 0.01 }
        let update = ClientUpdate(values: values, blockWeights: RoundSetup.blockWeights(model: template, organs: ["liver", "spleen"],
                                                                                        samples: 1 + i % 8))
        do {
            let sa = try await client.secureAggregation(round: r, session: a.session, config: config,
                                                        expectedContext: config.boundContext, index: UInt32(i),
                                                        identity: keys[i].signingKey, update: update, onPhase: { phase, _ in
                guard phase == .secureAggregation(.maskedInput) else { return }
                if dropOut { throw Dropout() }
                await release.arrive()
            })
            return sa.abortReason.map { "node \(i): round \(r) aborted: \($0)" }
        } catch is Dropout {
            return nil
        }
    }

    /// Checks the ledger after the run: it verifies, records every round as completed with the expected
    /// number of survivors, and each round's model file is on disk, signed, with the recorded hash; no
    /// temporary file is left. Prints each problem; returns how many there were.
    public func checkLedger(expectedSurvivors: Int) throws -> Int {
        let aggregatorKey = try federation.aggregatorKey()
        let v = try Ledger(path: "\(statePath)/ledger.sqlite").verify(aggregatorKey: aggregatorKey)
        var problems = v.problems
        if v.records.map(\.round) != Array(1 ... federation.rounds) {
            problems.append("ledger holds rounds \(v.records.map(\.round)), expected 1...\(federation.rounds)")
        }
        for rec in v.records {
            guard rec.status == .completed else { problems.append("round \(rec.round) \(rec.status): \(rec.abortReason ?? "")"); continue }
            if rec.survivors.count != expectedSurvivors {
                problems.append("round \(rec.round): \(rec.survivors.count) survivors, expected \(expectedSurvivors)")
            }
            let path = ModelStore.path(stateDirectory: statePath, round: rec.round)
            do {
                let (bytes, _) = try ModelSignature.verifyFile(path: path, publicKey: aggregatorKey)
                let h = Hex.encode(try BLAKE2b.hash(bytes, outputLength: 32))
                if h != rec.modelHash { problems.append("\(path): hash \(h.prefix(16)) is not the recorded \(rec.modelHash.prefix(16))") }
            } catch { problems.append("\(path): \(error)") }
        }
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: "\(statePath)/models"))?.filter { $0.hasPrefix(".") } ?? []
        if !leftovers.isEmpty { problems.append("temporary files left in models/: \(leftovers)") }
        for p in problems { print("PROBLEM: \(p)") }
        return problems.count
    }
}

/// Suspends callers until `count` of them have arrived, then lets them all go. A caller that fails before
/// arriving withdraws, so that the others are not held for ever.
public actor Barrier {
    private var expected: Int
    private var arrived = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    public init(count: Int) { expected = count }

    /// Waits for the others.
    public func arrive() async {
        arrived += 1
        if arrived >= expected { releaseAll(); return }
        await withCheckedContinuation { waiting.append($0) }
    }

    /// One caller will not arrive.
    public func withdraw() {
        expected -= 1
        if arrived >= expected { releaseAll() }
    }

    private func releaseAll() {
        for w in waiting { w.resume() }
        waiting = []
    }
}
