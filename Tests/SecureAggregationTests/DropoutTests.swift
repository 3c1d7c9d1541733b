import Testing
@testable import SecureAggregation
import SecureAggregationTesting

/// Dropouts at every phase, with 1, several and n - t users; one more than allowed aborts cleanly.
@Suite struct DropoutTests {
    static let n = 10
    /// floor(n/2) + 1: tolerates 4 dropouts of 10 but not colluding clients, an explicit choice
    /// (`collusionTolerance: .none`) in every fixture below that uses it.
    static let t = 6

    /// Users in U3 whose inputs must be in the sum for a drop point.
    static func survivors(_ drops: [UInt32: DropPoint]) -> [UInt32] {
        (0 ..< UInt32(n)).filter { u in
            guard let d = drops[u] else { return true }
            return d.rawValue >= DropPoint.afterMasking.rawValue
        }
    }

    @Test(arguments: DropPoint.allCases, [1, 2, 4])
    func dropoutAtEachPhase(point: DropPoint, count: Int) throws {
        let f = try Fixture(n: Self.n, m: 120, threshold: Self.t, collusionTolerance: .none, blockCount: 2, seed: UInt64(17 + point.rawValue * 5 + count))
        // Different users for different counts, not always the lowest ids.
        let dropped = (0 ..< count).map { UInt32((3 * $0 + point.rawValue + 1) % Self.n) }
        let drops = Dictionary(uniqueKeysWithValues: dropped.map { ($0, point) })
        var net = try f.network(drops: drops)
        let result = net.run()
        #expect(net.server.abortReason == nil, "\(net.server.log)")
        f.check(result, survivors: Self.survivors(drops))
        for u in 0 ..< UInt32(Self.n) where drops[u] == nil {
            #expect(net.clients[Int(u)]?.isCompleted == true)
        }
        #expect(net.clientErrors.isEmpty, "\(net.clientErrors)")
    }

    /// n - t + 1 dropouts at one phase: the server aborts with the reason, clients learn it.
    @Test(arguments: DropPoint.allCases)
    func oneMoreThanAllowedAborts(point: DropPoint) throws {
        let f = try Fixture(n: Self.n, m: 30, threshold: Self.t, collusionTolerance: .none, seed: UInt64(40 + point.rawValue))
        let count = Self.n - Self.t + 1
        let drops = Dictionary(uniqueKeysWithValues: (0 ..< count).map { (UInt32(2 * $0 % Self.n + ($0 >= 5 ? 1 : 0)), point) })
        #expect(drops.count == count)
        var net = try f.network(drops: drops)
        #expect(net.run() == nil)
        let reason = try #require(net.server.abortReason)
        #expect(reason.contains("threshold is 6") || reason.contains("threshold 6"), "\(reason)")
        #expect(net.server.result == nil)
        // Every remaining client was told, none completed.
        for u in 0 ..< UInt32(Self.n) where drops[u] == nil {
            #expect(net.clients[Int(u)]?.abortReason != nil)
            #expect(net.clients[Int(u)]?.isCompleted == false)
        }
    }

    /// Dropouts spread over several phases at once, down to exactly t responders at the end.
    @Test func dropoutsAcrossPhases() throws {
        // 7 of 12 (weaker than the default 9, explicitly): five dropouts across phases.
        let f = try Fixture(n: 12, m: 200, threshold: 7, collusionTolerance: .none, blockCount: 3, seed: 77)
        let drops: [UInt32: DropPoint] = [0: .beforeAdvertising, 3: .afterAdvertising, 5: .afterSharing,
                                          8: .afterMasking, 11: .duringUnmasking]
        var net = try f.network(drops: drops)
        let result = net.run()
        f.check(result, survivors: [1, 2, 4, 6, 7, 8, 9, 10, 11])
        #expect(net.server.log.contains { $0.contains("1 dropped after sharing") })
    }

    /// SecAgg+: dropouts inside one neighbourhood up to its own threshold.
    @Test func neighbourhoodDropouts() throws {
        let f = try Fixture(n: 30, m: 64, neighbours: 6, seed: 5)
        let t = f.config.threshold  // floor(14/3) + 1 = 5 of 7 holders
        #expect(t == 5)
        let victim: UInt32 = 0
        let around = f.config.holders(of: victim, session: try f.session()).filter { $0 != victim }
        var drops: [UInt32: DropPoint] = [victim: .afterSharing]
        drops[around[0]] = .afterSharing
        var net = try f.network(drops: drops)
        let result = net.run()
        f.check(result, survivors: (0 ..< 30).filter { drops[$0] != .afterSharing })

        // Too many of one user's holders gone: its key cannot be rebuilt, the round aborts.
        var drops2: [UInt32: DropPoint] = [victim: .afterSharing]
        for h in around.prefix(4) { drops2[h] = .duringConsistencyCheck }
        var net2 = try f.network(drops: drops2)
        #expect(net2.run() == nil)
        #expect(net2.server.abortReason?.contains("could not reconstruct") == true, "\(net2.server.abortReason ?? "")")
    }
}
