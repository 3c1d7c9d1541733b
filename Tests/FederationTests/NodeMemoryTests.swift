import Foundation
import Testing
@testable import Federation

/// The node's own durable memory (`segviz node --state DIR`) and the subtraction-across-attempts rule: a node
/// answers the unmasking phase at most once per global model, then contributes again only from a newer one.
@Suite(.timeLimit(.minutes(5))) struct NodeMemoryTests {
    func refusal(_ body: () async throws -> Void) async -> ModelRefusal? {
        do { try await body(); return nil } catch let r as ModelRefusal { return r } catch { return nil }
    }

    @Test func aNodeRevealsAtMostOncePerModelAcrossAttempts() async throws {
        let m = try NodeMemory(federation: "f", node: "n", directory: nil)
        // Attempt 1 (round 1) from model 0 aborted before unmasking: attempt 2 may use model 0 again.
        try await m.begin(round: 1, modelRound: 0, modelHash: "aa")
        try await m.begin(round: 2, modelRound: 0, modelHash: "aa")
        // Attempt 2 answers the unmasking phase, then aborts: no third attempt from model 0.
        try await m.reveal(round: 2)
        #expect(await refusal { try await m.begin(round: 3, modelRound: 0, modelHash: "aa") } == .alreadyRevealed(modelRound: 0, round: 2))
        // A replayed or earlier round is refused whatever the model.
        #expect(await refusal { try await m.begin(round: 2, modelRound: 5, modelHash: "bb") } == .roundNotIncreasing(offered: 2, last: 2))
        // A new model is fine.
        try await m.begin(round: 3, modelRound: 1, modelHash: "cc")
        #expect(await m.state.attempts.map(\.round) == [1, 2, 3])
    }

    @Test func aCompletedRoundMakesEveryOlderModelARollback() async throws {
        let m = try NodeMemory(federation: "f", node: "n", directory: nil)
        try await m.begin(round: 1, modelRound: 0, modelHash: "aa")
        try await m.reveal(round: 1)
        try await m.complete(round: 1)
        #expect(await refusal { try await m.begin(round: 2, modelRound: 0, modelHash: "aa") } == .olderModel(offered: 0, highest: 1))
        try await m.begin(round: 2, modelRound: 1, modelHash: "bb")
    }

    @Test func theStateSurvivesARestartAndRefusesAnotherFederationOrNode() async throws {
        let dir = try temporaryDirectory() + "/state"
        do {
            let m = try NodeMemory(federation: "f", node: "n", directory: dir)
            try await m.begin(round: 1, modelRound: 0, modelHash: "aa")
            try await m.reveal(round: 1)
        }
        let again = try NodeMemory(federation: "f", node: "n", directory: dir)
        #expect(await again.state.attempts == [.init(round: 1, modelRound: 0, modelHash: "aa", revealed: true)])
        #expect(await refusal { try await again.begin(round: 2, modelRound: 0, modelHash: "aa") } == .alreadyRevealed(modelRound: 0, round: 1))
        // Only the state file: the atomic writes left no temporary file behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == [NodeMemory.fileName])
        for (federation, node, field, found, expected) in [("other", "n", "federation", "f", "other"), ("f", "m", "node", "n", "m")] {
            #expect(throws: FederationError.nodeStateOfAnother(path: dir + "/" + NodeMemory.fileName, field: field,
                                                               found: found, expected: expected)) {
                _ = try NodeMemory(federation: federation, node: node, directory: dir)
            }
        }
        // A damaged file is refused, naming it.
        try Data("{".utf8).write(to: URL(fileURLWithPath: dir + "/" + NodeMemory.fileName))
        #expect {
            _ = try NodeMemory(federation: "f", node: "n", directory: dir)
        } throws: { e in
            guard case let FederationError.notANodeState(path, _) = e else { return false }
            return path == dir + "/" + NodeMemory.fileName
        }
    }
}
