import Foundation
import SecureAggregation
import Testing
@testable import Federation

/// The aggregator's concurrency: long-polls woken by the message, not by polling or their timeout; models as
/// values that no other holder can change.
@Suite(.timeLimit(.minutes(5))) struct ConcurrencyTests {
    /// A node long-polls for its first server message of the round (the key list) before the last
    /// advertisement arrives; the poll must return as soon as the message is queued, far before its 30 s timeout.
    @Test(.timeLimit(.minutes(5))) func longPollIsWokenByTheMessage() async throws {
        let (coord, a, ads) = try await coordinatorWithAdvertisements()
        #expect(try await coord.nextMessage(node: "node0", round: a.round, session: a.session, index: 0, timeout: 0) == nil)
        let clock = ContinuousClock()
        let poll = Task { () throws -> (bytes: [UInt8]?, waited: Duration) in
            let start = clock.now
            let m = try await coord.nextMessage(node: "node0", round: a.round, session: a.session, index: 0, timeout: 30)
            return (m, clock.now - start)
        }
        // Wait (on a busy machine, as long as it takes) until the poll is parked with no message to find.
        var parked = false
        for _ in 0 ..< 3000 where !parked {
            parked = await coord.waitingLongPolls == 1
            if !parked { try await Task.sleep(for: .milliseconds(10)) }
        }
        try #require(parked, "the long-poll never started waiting")
        let queued = clock.now
        for i in 0 ..< 3 { try await coord.receive(node: "node\(i)", round: a.round, session: a.session, bytes: ads[i]) }
        let (bytes, waited) = try await poll.value
        let afterQueued = clock.now - queued
        #expect(bytes != nil, "the key list did not reach the waiting poll")
        #expect(waited < .seconds(29), "the poll ran into its 30 s timeout (\(waited)) instead of being woken")
        #expect(afterQueued < .seconds(10), "the poll answered \(afterQueued) after the message was queued")
        #expect(await coord.waitingLongPolls == 0)
    }

    /// A copy handed to a trainer or another thread is independent of the original (no shared mutable state).
    @Test func federatedModelIsAValue() throws {
        let net = FederationFile.NetworkSpec(channels: [2, 4], strides: [2], numResUnits: 1, norm: "batch")
        let original = FederatedModel(strategy: .heads, organs: ["liver", "spleen"], network: net, seed: 3)
        var copy = original
        let before = original.values
        for i in copy.values.indices { copy.values[i] += 1 }
        #expect(original.values == before)
        #expect(copy.values.first == before.first.map { $0 + 1 })
    }
}
