import Foundation
import Testing
@testable import Federation

/// Issue 22: a node that is up but sits an attempt out (it refused the model, restarted after joining, or its
/// privacy budget is spent) says so (`POST .../decline`), and the aggregator stops waiting for it at once,
/// instead of waiting for it until the training timeout (120 s here) as it did before.
@Suite(.serialized) struct DeclineTests {
    /// What one run of a federation with a restarted node2 left: each node's error, the seconds it took, the
    /// log lines and the verified ledger.
    struct Run { let errors: [Int: Error?]; let seconds: Double; let lines: [String]; let ledger: LedgerVerification }

    /// Three nodes, training and phase timeouts of 120 s; node2's memory holds round 1 as a node that crashed
    /// during it (its keys are gone), so it declines round 1 as `restarted`.
    static func runWithRestartedNode(rounds: Int, threshold: Int) async throws -> Run {
        let dir = try temporaryDirectory()
        let port = freePort()
        let f = try smallFederation(dir: dir, rounds: rounds, port: port) { f in
            f.secureAggregation.threshold = threshold
            if threshold < 3 { f.secureAggregation.collusionTolerance = .none }
            f.trainingTimeoutSeconds = 120
            f.phaseTimeoutSeconds = 120
        }
        let sink = LogSink()
        let aggKey = try KeyFiles.loadSecretKey(path: dir + "/keys/aggregator.key")
        let coord = try Coordinator(federation: f, stateDirectory: dir + "/state", key: aggKey, log: { sink.append("agg: " + $0) })
        let model0 = await coord.modelHash
        try await NodeMemory(federation: f.name, node: "node2", directory: dir + "/node2").begin(round: 1, modelRound: 0, modelHash: model0)
        let (errors, seconds) = try await HonestExitTests.runFederation(f, dir: dir, coordinator: coord, nodes: [0, 1, 2], sink: sink,
                                                                        port: port, nodeState: [2: dir + "/node2"])
        let ledger = try Ledger(path: dir + "/state/ledger.sqlite").verify(aggregatorKey: aggKey.publicKey)
        return Run(errors: errors, seconds: seconds, lines: sink.all, ledger: ledger)
    }

    /// node2 declines round 1; threshold 2 of 3: the round goes on with node0 and node1 as soon as they have
    /// advertised, and node2 takes part in round 2. Both rounds well within one training timeout.
    @Test(.timeLimit(.minutes(5))) func aNodeThatDeclinesIsNotWaitedFor() async throws {
        let r = try await Self.runWithRestartedNode(rounds: 2, threshold: 2)
        let logs = r.lines.joined(separator: "\n")
        #expect(r.errors.values.allSatisfy { $0 == nil }, "\(r.errors) \(logs)")
        // Bound fixed here: two small rounds take 4 s alone and up to ~60 s beside the parallel suites; waiting for
        // node2 takes the 120 s training timeout (measured 123 s with the decline removed).
        #expect(r.seconds < 100, "took \(r.seconds) s: \(logs)")
        #expect(r.lines.contains("agg: round 1: node2 sits this attempt out (restarted after joining this attempt)"), "\(logs)")
        #expect(r.ledger.records.map(\.survivors) == [["node0", "node1"], ["node0", "node1", "node2"]], "\(logs)")
    }

    /// Threshold 3 of 3 and node2 declines: the attempt cannot complete, so it aborts at once (not after the
    /// training timeout), the ledger's abort reason names the decline, and the next attempt completes the round.
    @Test(.timeLimit(.minutes(5))) func aDeclineBelowTheThresholdAbortsTheAttemptAtOnce() async throws {
        let r = try await Self.runWithRestartedNode(rounds: 1, threshold: 3)
        let logs = r.lines.joined(separator: "\n")
        #expect(r.errors.values.allSatisfy { $0 == nil }, "\(r.errors) \(logs)")
        #expect(r.seconds < 100, "took \(r.seconds) s: \(logs)")
        #expect(r.ledger.ok && r.ledger.records.map(\.status) == [.aborted, .completed], "\(r.ledger.records)")
        #expect(r.ledger.records.first?.abortReason?.contains("declined: node2 (restarted after joining this attempt)") == true, "\(r.ledger.records)")
    }

    /// The wire form: only the codes are accepted, and a node's refusal maps to its code.
    @Test func declineBodiesAreCodes() {
        for r in DeclineReason.allCases { #expect(DeclineReason(body: r.body) == r) }
        #expect(DeclineReason(body: Array(#"{"reason":"I am tired"}"#.utf8)) == nil)
        #expect(DeclineReason(body: Array("restarted".utf8)) == nil)
        #expect(DeclineReason(body: Array(repeating: 32, count: 300) + Array(#"{"reason":"restarted"}"#.utf8)) == nil)
        #expect(DeclineReason(.roundNotIncreasing(offered: 3, last: 3)) == .restarted)
        #expect(DeclineReason(.roundNotIncreasing(offered: 2, last: 3)) == .refusedModel)
        #expect(DeclineReason(.privacyBudgetExhausted(round: 4, spent: 1, wouldSpend: 2, budget: 1.5)) == .privacyBudget)
    }

    /// A node may not decline a phase it already answered, nor a round that is not the current one.
    @Test func declinesAreCheckedAgainstTheRound() async throws {
        let dir = try temporaryDirectory()
        let f = try smallFederation(dir: dir, rounds: 1, port: freePort())
        let aggKey = try KeyFiles.loadSecretKey(path: dir + "/keys/aggregator.key")
        let coord = try Coordinator(federation: f, stateDirectory: dir + "/state", key: aggKey, log: { _ in })
        let a = await coord.announcement()
        await #expect(throws: Coordinator.Refusal.self) { try await coord.decline(node: "node0", round: a.round + 1, session: a.session, reason: .restarted) }
        await #expect(throws: Coordinator.Refusal.self) { try await coord.decline(node: "stranger", round: a.round, session: a.session, reason: .restarted) }
        try await coord.decline(node: "node0", round: a.round, session: a.session, reason: .refusedModel)
        #expect(await coord.presence.declined == ["node0": .refusedModel])
    }

    /// The grace for missing nodes counts from each one's last request: a node that vanished in the previous
    /// attempt (silent longer than the grace) is not waited for again; one never seen gets the grace from the
    /// attempt's start; a declined one none. (The demo's `--drop-node` lost a 30 s grace in every later round.)
    @Test func graceCountsFromTheLastRequest() {
        let start = Date(timeIntervalSince1970: 1_000_000)
        let now = start.addingTimeInterval(3)
        var p = NodePresence()
        p.seen("vanished", at: start.addingTimeInterval(-100))
        p.seen("recent", at: start.addingTimeInterval(-10))
        p.attemptStarted(at: start)
        p.decline("declined", .privacyBudget)
        #expect(p.graceEnd(missing: ["vanished"], grace: 30, now: now) == now)
        #expect(p.graceEnd(missing: ["declined"], grace: 30, now: now) == now)
        #expect(p.graceEnd(missing: ["never"], grace: 30, now: now) == start.addingTimeInterval(30))
        #expect(p.graceEnd(missing: ["recent"], grace: 30, now: now) == start.addingTimeInterval(20))
        #expect(p.graceEnd(missing: ["vanished", "never", "declined"], grace: 30, now: now) == start.addingTimeInterval(30))
    }
}
