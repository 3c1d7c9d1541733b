import Testing
@testable import SecureAggregation
import SecureAggregationTesting

/// The `secagg-config` fuzz target's invariants over seeded random block maps, thresholds and tolerances: a
/// configuration is refused with a `SecAggError`, or it keeps the threshold floor, no block below the minimum of
/// contributors, and no weight that the attacker's independent solver (`Attack.solveWeights`) derives from the
/// released sums. Both outcomes must occur, so the property is not vacuous.
@Suite struct ConfigurationPropertyTests {
    @Test func everyAcceptedBlockMapHidesEveryWeight() throws {
        let ids = FakeNetwork.identities(count: 7, seed: 5).map(\.publicKey)
        var rng = SeededByteSource(seed: 2024)
        var accepted = 0, refusedForWeights = 0, refusedForBlocks = 0
        for _ in 0 ..< 400 {
            let b = rng.bytes(4)
            let users = 2 + Int(b[0] % 6), blocks = 1 + Int(b[1] % 4)
            let map = (0 ..< users).map { _ in (0 ..< blocks).map { _ in rng.bytes(1)[0] % 3 != 0 } }
            let tolerance: CollusionTolerance = b[2] & 1 == 0 ? .colludingClients : .none
            let threshold: Int? = b[3] % 3 == 0 ? nil : 1 + Int(b[3]) % users
            let layout = try VectorLayout(blocks: (0 ..< blocks).map { Block(name: "b\($0)", offset: 2 * $0, count: 2) })
            let config: SecAggConfig
            do {
                config = try SecAggConfig(round: 1, roster: Array(ids.prefix(users)), threshold: threshold, layout: layout,
                                          quantisation: Quantisation(clip: 1, levels: 100, maxWeight: 4), blockMap: map,
                                          collusionTolerance: tolerance)
            } catch let e as SecAggError {
                if case let .weightDisclosed(u) = e {
                    refusedForWeights += 1
                    // The independent solver agrees that this user's weight follows from the sums.
                    let members = (0 ..< blocks).map { b in (0 ..< users).filter { map[$0][b] }.map { UInt32($0) } }
                    #expect(Attack.solveWeights(members: members, sums: members.map { UInt64($0.count) }, users: users)[u] != nil)
                }
                if case .tooFewContributors = e { refusedForBlocks += 1 }
                continue
            }
            accepted += 1
            #expect(config.threshold >= tolerance.minimumThreshold(holders: users) && config.threshold <= users)
            let members = (0 ..< blocks).map { b in (0 ..< users).filter { map[$0][b] }.map { UInt32($0) } }
            #expect(members.allSatisfy { $0.isEmpty || $0.count >= 2 }, "\(map)")
            let solved = Attack.solveWeights(members: members, sums: members.map { UInt64($0.count) }, users: users)
            let contributing = Set(members.joined())
            #expect(solved.keys.allSatisfy { !contributing.contains($0) }, "\(map) discloses \(solved)")
        }
        #expect(accepted > 20 && refusedForWeights > 20 && refusedForBlocks > 20,
                "accepted \(accepted), weight refusals \(refusedForWeights), block refusals \(refusedForBlocks)")
    }
}
