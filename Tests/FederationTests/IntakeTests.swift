import Foundation
import SecureAggregation
import Testing
@testable import Federation

/// Load findings (`segviz bench load`): bounded intake of large bodies, and late protocol messages.
@Suite(.timeLimit(.minutes(5))) struct IntakeTests {
    /// 200 simulated nodes posting their masked inputs at once made the aggregator read every body before
    /// summing (565 MB peak for a 1.1 MB model); behind the gate at most `slots` run at a time, and a
    /// failing one frees its slot.
    @Test func intakeLimiterAdmitsAtMostItsSlots() async throws {
        let gate = IntakeLimiter(slots: 2)
        let counter = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0 ..< 40 {
                group.addTask {
                    do {
                        try await gate.run {
                            await counter.enter()
                            try await Task.sleep(nanoseconds: 2_000_000)
                            await counter.leave()
                            if i % 5 == 0 { throw CancellationError() }
                        }
                    } catch is CancellationError {}
                }
            }
            try await group.waitForAll()
        }
        #expect(await counter.peak == 2)
        #expect(await counter.finished == 40)
    }

    /// A message for a phase that already closed without the node (it missed the deadline) is a 409
    /// (the round moved on), not a 400 (malformed): nodes treat 409 as "rejoin at the next round".
    @Test func lateMessageAfterThePhaseClosedIs409() async throws {
        let (coord, a, ads) = try await coordinatorWithAdvertisements()
        for i in 0 ..< 2 { try await coord.receive(node: "node\(i)", round: a.round, session: a.session, bytes: ads[i]) }
        await coord.tick(now: Date().addingTimeInterval(3600))  // the advertisement deadline passes without node2
        #expect(await coord.announcement().phase == .shareKeys)
        do {
            try await coord.receive(node: "node2", round: a.round, session: a.session, bytes: ads[2])
            Issue.record("a late advertisement was accepted")
        } catch let r as Coordinator.Refusal {
            #expect(r.status == 409, "\(r)")
        }
        do {
            try await coord.receive(node: "node0", round: a.round, session: a.session, bytes: [1, 2, 3])
            Issue.record("garbage was accepted")
        } catch let r as Coordinator.Refusal {
            #expect(r.status == 400, "\(r)")
        }
    }
}

/// `segviz bench load` end to end, small: a real aggregator process, 8 simulated nodes in SecAgg+
/// neighbourhoods of 4, one dropping out each round; the ledger must hold both rounds with 7 survivors.
@Test(.timeLimit(.minutes(5))) func benchLoadCompletesEveryRoundAndLosesNothing() throws {
    let r = try run([segvizExecutable(), "bench", "load", "--nodes", "8", "--neighbours", "4", "--dropouts", "1",
                     "--params", "3000", "--rounds", "2", "--phase-timeout", "2"])
    #expect(r.status == 0, "\(r.output)")
    let last = r.output.split(separator: "\n").last.map(String.init) ?? ""
    let fields = Set(last.split(separator: " ").map(String.init))
    #expect(fields.isSuperset(of: ["nodes=8", "dropouts=1", "lost=0"]), "\(r.output)")
    #expect(last.contains("agg_peak_rss_mb="), "\(last)")
}

/// Counts concurrent entries.
actor Counter {
    private(set) var peak = 0
    private(set) var finished = 0
    private var inside = 0
    func enter() { inside += 1; peak = max(peak, inside) }
    func leave() { inside -= 1; finished += 1 }
}

/// Found by the fault tests under load: a test (or `segviz audit`) reading the ledger while the aggregator
/// opened it made the aggregator exit with "database is locked". The ledger now waits for the lock.
@Test(.timeLimit(.minutes(5))) func ledgerWaitsForAnotherProcessesLock() async throws {
    let dir = try temporaryDirectory()
    let path = dir + "/ledger.sqlite"
    _ = try Ledger(path: path)
    // The holder keeps its exclusive lock until the release file appears (at most 900 s; the test kills it at the
    // end), so the test does not depend on how fast this (possibly busy) machine schedules it: with a 60 s limit, a
    // test task starved by the parallel suite found the lock already given up.
    let release = dir + "/release"
    let holder = try Child(command: ["/usr/bin/env", "python3", "-c", """
        import os, sqlite3, sys, time
        c = sqlite3.connect(sys.argv[1], isolation_level=None)
        c.execute("BEGIN EXCLUSIVE")
        print("locked", flush=True)
        end = time.time() + 900
        while not os.path.exists(sys.argv[2]) and time.time() < end:
            time.sleep(0.05)
        c.execute("COMMIT")
        """, path, release], log: dir + "/holder.log")
    defer { holder.kill9() }
    let locked = await holder.waitForOutput("locked", seconds: 60)
    try #require(locked, "the lock holder did not start: \(holder.output)")
    let started = Date()
    // A plain thread (not the test's task pool, which busy tests can starve) releases the lock after 1 s.
    Thread.detachNewThread {
        Thread.sleep(forTimeInterval: 1)
        FileManager.default.createFile(atPath: release, contents: nil)
    }
    let ledger = try Ledger(path: path)
    #expect(try ledger.records().isEmpty)
    #expect(Date().timeIntervalSince(started) > 0.5, "the lock was not held while the ledger opened")
}

/// A coordinator of a fresh three-node federation (one round) and the three nodes' signed key advertisements for
/// its first round, not yet delivered.
func coordinatorWithAdvertisements() async throws -> (Coordinator, RoundAnnouncement, [[UInt8]]) {
    let dir = try temporaryDirectory()
    // 2 of 3 must be able to go on without node2: below the colluding-nodes default of 3, an explicit choice.
    let f = try smallFederation(dir: dir, rounds: 1, port: freePort()) { f in
        f.secureAggregation.threshold = 2
        f.secureAggregation.collusionTolerance = CollusionTolerance.none
    }
    let coord = try Coordinator(federation: f, stateDirectory: dir + "/state",
                                key: try KeyFiles.loadSecretKey(path: dir + "/keys/aggregator.key"), log: { _ in })
    let a = await coord.announcement()
    let model = await coord.model
    let config = try RoundSetup.config(federation: f, model: model, announcement: a,
                                       verifiedModelRound: a.modelRound, verifiedModelHash: try Hex.decode(a.modelHash, field: "announcement.modelHash"))
    var ads: [[UInt8]] = []
    for i in 0 ..< 3 {
        let key = try KeyFiles.loadSecretKey(path: dir + "/keys/node\(i).key")
        let update = ClientUpdate(values: [Float](repeating: 0, count: model.values.count),
                                  blockWeights: RoundSetup.blockWeights(model: model, organs: ["liver"], samples: 1))
        ads.append(try SecAggClient.start(config: config, id: UInt32(i), identity: key.signingKey, update: update,
                                          expectedContext: config.boundContext).1.encode())
    }
    return (coord, a, ads)
}
