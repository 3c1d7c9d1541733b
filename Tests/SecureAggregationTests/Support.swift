import Foundation
import Testing
@testable import SecureAggregation
import SecureAggregationTesting

/// Bytes of a test vector's hex text. SegViz's shared hex codec (`Federation.Hex`) lives above this
/// module's layer (this test target does not depend on Federation), and SecureAggregation itself only
/// encodes hex (`hexDigits`, which these tests use): so this decoder of fixed, trusted vectors stays here.
func hex(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var i = s.startIndex
    while i < s.endIndex {
        let j = s.index(i, offsetBy: 2)
        out.append(UInt8(s[i ..< j], radix: 16)!)
        i = j
    }
    return out
}


/// A round's fixture: identities, configuration and updates.
struct Fixture {
    let identities: [Identity.SigningKey]
    let config: SecAggConfig
    let updates: [ClientUpdate]
    /// One quantisation step, 2 clip / levels, from the fixture's own parameters (not from the code
    /// under test): the documented bound on each element's error of the weighted mean.
    let quantum: Double

    /// n users, m parameters in `blockCount` equal-ish blocks, values in [-range, range], one
    /// weight per user (1...maxWeight; `weights(u, b)` may give 0 where user u does not
    /// contribute, which becomes the signed block map). `threshold` nil: the safe default; a
    /// test that needs a weaker one passes `collusionTolerance: .none` with it, explicitly.
    init(n: Int, m: Int, threshold: Int? = nil, collusionTolerance: CollusionTolerance = .colludingClients,
         neighbours: Int? = nil, blockCount: Int = 1, clip: Float = 1,
         levels: UInt32? = nil, maxWeight: UInt32 = 10, valueRange: Float = 0.9, seed: UInt64 = 1,
         allowSmallBlocks: Bool = false, weights: ((Int, Int) -> UInt32)? = nil, round: UInt64 = 3,
         modulusBits: Int = 32, boundContext: [UInt8] = [UInt8](repeating: 0, count: 32),
         publicSeed: [UInt8]? = nil, weakened: Set<Weakening> = []) throws {
        identities = FakeNetwork.identities(count: n, seed: seed)
        var blocks: [Block] = []
        let per = m / blockCount
        for b in 0 ..< blockCount {
            let count = b == blockCount - 1 ? m - per * (blockCount - 1) : per
            blocks.append(Block(name: "block\(b)", offset: b * per, count: count))
        }
        let layout = try VectorLayout(blocks: blocks)
        let lv = levels ?? min(1 << 16, Quantisation.maximumLevels(clients: n, maxWeight: maxWeight))
        quantum = 2 * Double(clip) / Double(lv)
        let w = (0 ..< n).map { u in (0 ..< blockCount).map { b in weights?(u, b) ?? UInt32(1 + (u * 7) % Int(maxWeight)) } }
        config = try SecAggConfig(round: round, roster: identities.map(\.publicKey), threshold: threshold, layout: layout,
                                  quantisation: Quantisation(clip: clip, levels: lv, maxWeight: maxWeight, modulusBits: modulusBits),
                                  neighbours: neighbours, publicSeed: publicSeed ?? [UInt8](repeating: UInt8(seed & 0xff), count: 32),
                                  allowSmallBlocks: allowSmallBlocks, blockMap: w.map { $0.map { $0 > 0 } },
                                  collusionTolerance: collusionTolerance, boundContext: boundContext, weakened: weakened)
        var rng = SeededByteSource(seed: seed &+ 99)
        var ups: [ClientUpdate] = []
        for u in 0 ..< n {
            let values = (0 ..< m).map { _ in rng.nextUnitFloat() * valueRange }
            ups.append(ClientUpdate(values: values, blockWeights: w[u]))
        }
        updates = ups
    }

    /// The same fixture with some defences switched off (the same digest, so its messages mix
    /// with the strict configuration's: a lying server can run on it against strict clients).
    func weakened(_ w: Set<Weakening>) throws -> SecAggConfig {
        let c = config
        return try SecAggConfig(round: c.round, roster: c.roster, threshold: c.threshold, layout: c.layout,
                                quantisation: c.quantisation, neighbours: c.neighbours, publicSeed: c.publicSeed,
                                allowSmallBlocks: c.allowSmallBlocks, blockMap: c.blockMap,
                                collusionTolerance: c.collusionTolerance, boundContext: c.boundContext, weakened: w)
    }

    func network(drops: [UInt32: DropPoint] = [:], seed: UInt64 = 1, systemRandom: Bool = false,
                 randomSources: [UInt32: any RandomSource] = [:]) throws -> FakeNetwork {
        try FakeNetwork(config: config, identities: identities, updates: updates, drops: drops, seed: seed,
                        systemRandom: systemRandom, randomSources: randomSources)
    }

    /// The session of this fixture's round with network seed `seed` (advertisements do not
    /// depend on later dropouts): what the neighbourhood graph is drawn from.
    func session(seed: UInt64 = 1) throws -> [UInt8] {
        var probe = try network(seed: seed)
        _ = probe.run()
        return ServerTranscript(config: config, messages: probe.serverView).session
    }

    /// The exact weighted mean of the clipped updates of `survivors`.
    func expectedMean(survivors: [UInt32]) -> [Double] {
        let c = Double(config.quantisation.clip)
        var out = [Double](repeating: 0, count: config.layout.parameterCount)
        for (b, block) in config.layout.blocks.enumerated() {
            let wsum = survivors.reduce(0.0) { $0 + Double(updates[Int($1)].blockWeights[b]) }
            guard wsum > 0 else { continue }
            for i in block.range {
                var s = 0.0
                for u in survivors {
                    let x = min(max(Double(updates[Int(u)].values[i]), -c), c)
                    s += Double(updates[Int(u)].blockWeights[b]) * x
                }
                out[i] = s / wsum
            }
        }
        return out
    }

    /// Checks the result against the exact weighted mean within one quantum of the fixture's own
    /// clip and levels (plus Float rounding of the result), and that the result reports that bound.
    func check(_ result: AggregateResult?, survivors: [UInt32], sourceLocation: SourceLocation = #_sourceLocation) {
        guard let result else {
            Issue.record("no result", sourceLocation: sourceLocation)
            return
        }
        #expect(result.survivors == survivors, sourceLocation: sourceLocation)
        let expected = expectedMean(survivors: survivors)
        let mean = result.weightedMean()
        let bound = quantum * (1 + 1e-9) + 1e-6 * Double(config.quantisation.clip)
        #expect(abs(result.meanErrorBound - quantum) <= 1e-12 * quantum, "reported bound \(result.meanErrorBound), one quantum is \(quantum)",
                sourceLocation: sourceLocation)
        var worst = 0.0
        for i in expected.indices { worst = max(worst, abs(Double(mean[i]) - expected[i])) }
        #expect(worst <= bound, "max error \(worst) > bound \(bound)", sourceLocation: sourceLocation)
        for (b, _) in config.layout.blocks.enumerated() {
            let w = survivors.reduce(UInt64(0)) { $0 + UInt64(updates[Int($1)].blockWeights[b]) }
            let c = survivors.filter { updates[Int($0)].blockWeights[b] > 0 }.count
            #expect(result.blockWeights[b] == w, sourceLocation: sourceLocation)
            #expect(result.blockContributors[b] == c, sourceLocation: sourceLocation)
        }
    }
}
