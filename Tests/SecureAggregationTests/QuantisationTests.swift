import PropertyBased
import Testing
@testable import SecureAggregation
import SecureAggregationTesting

@Suite struct QuantisationTests {
    /// The documented bound: the dequantised weighted mean of n nodes is within one quantum
    /// (2 clip / levels) of the weighted mean of the clipped inputs.
    @Test func errorBoundProperty() async {
        await propertyCheck(count: 300, input: Gen.uint64(in: 0 ... 1_000_000_000), Gen.int(in: 1 ... 60), Gen.float(in: 0.001 ... 100)) { (seed, n, clip) throws in
            var rng = SeededByteSource(seed: seed)
            let maxWeight: UInt32 = 1 + UInt32(rng.bytes(1)[0])
            let levels = max(1, Quantisation.maximumLevels(clients: n, maxWeight: maxWeight) >> UInt32(rng.bytes(1)[0] % 20))
            let q = try Quantisation(clip: clip, levels: levels, maxWeight: maxWeight)
            try q.checkOverflow(clients: n)
            let quantiser = Quantiser(q)
            let count = 16
            var sum = [UInt32](repeating: 0, count: count)
            var exact = [Double](repeating: 0, count: count)
            var totalWeight: UInt64 = 0
            for _ in 0 ..< n {
                // One seed in eight: nobody contributes (the empty sum must dequantise to 0).
                let w = seed % 8 == 0 ? 0 : UInt32(rng.bytes(1)[0]) % (maxWeight + 1)
                let x = (0 ..< count).map { _ in rng.nextUnitFloat() * clip * 1.5 }
                let r = (0 ..< count).map { _ in UInt16(rng.bytes(1)[0]) << 8 | UInt16(rng.bytes(1)[0]) }
                var out = [UInt32](repeating: 0, count: count)
                x.withUnsafeBufferPointer { xp in r.withUnsafeBufferPointer { rp in out.withUnsafeMutableBufferPointer { op in
                    quantiser.quantise(xp.baseAddress!, count: count, weight: w, random: rp.baseAddress!, into: op.baseAddress!)
                } } }
                for i in 0 ..< count {
                    let (s, overflow) = sum[i].addingReportingOverflow(out[i])
                    #expect(!overflow)
                    sum[i] = s
                    exact[i] += Double(w) * Double(min(max(x[i], -clip), clip))
                }
                totalWeight += UInt64(w)
            }
            guard totalWeight > 0 else {
                // Nobody contributed: every word is 0 and the empty sum dequantises to 0 (no change).
                #expect(sum.allSatisfy { $0 == 0 }, "weight-0 nodes contributed \(sum)")
                #expect(quantiser.dequantise(0, totalWeight: 0) == 0)
                return
            }
            for i in 0 ..< count {
                let mean = quantiser.dequantise(UInt64(sum[i]), totalWeight: totalWeight) / Double(totalWeight)
                #expect(abs(mean - exact[i] / Double(totalWeight)) <= 2 * Double(clip) / Double(levels) * (1 + 1e-9) + 1e-12 * Double(clip))
            }
        }
    }

    /// Stochastic rounding is unbiased: the mean of many roundings of u is u.
    @Test func stochasticRoundingIsUnbiased() throws {
        let q = try Quantisation(clip: 1, levels: 10, maxWeight: 1)
        let quantiser = Quantiser(q)
        var rng = SeededByteSource(seed: 8)
        let trials = 20000
        for x: Float in [0.33, -0.71, 0.05, 0.999] {
            let xs = [Float](repeating: x, count: trials)
            let bytes = rng.bytes(4 * trials)  // one u32 per trial, low 16 bits used
            var r = ByteReader(bytes, message: "random")
            let words = try (0 ..< trials).map { _ in UInt16(truncatingIfNeeded: try r.u32()) }
            var out = [UInt32](repeating: 0, count: trials)
            xs.withUnsafeBufferPointer { xp in words.withUnsafeBufferPointer { rp in out.withUnsafeMutableBufferPointer { op in
                quantiser.quantise(xp.baseAddress!, count: trials, weight: 1, random: rp.baseAddress!, into: op.baseAddress!)
            } } }
            let u = (Double(x) + 1) * 5
            #expect(out.allSatisfy { $0 == UInt32(u.rounded(.down)) || $0 == UInt32(u.rounded(.down)) + 1 })
            let mean = Double(out.reduce(0, +)) / Double(trials)
            let p = u - u.rounded(.down)
            let sigma = (p * (1 - p) / Double(trials)).squareRoot()
            #expect(abs(mean - u) < 5 * sigma + 1e-9, "x \(x): mean \(mean) vs \(u)")
        }
    }

    @Test func clippingAndExtremes() throws {
        let q = try Quantisation(clip: 2, levels: 1000, maxWeight: 3)
        let quantiser = Quantiser(q)
        let x: [Float] = [-.infinity, -1e30, -2, 2, 1e30, .infinity, .greatestFiniteMagnitude, 0, .nan]
        let r = [UInt16](repeating: .max, count: x.count)
        var out = [UInt32](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xp in r.withUnsafeBufferPointer { rp in out.withUnsafeMutableBufferPointer { op in
            quantiser.quantise(xp.baseAddress!, count: x.count, weight: 3, random: rp.baseAddress!, into: op.baseAddress!)
        } } }
        #expect(out == [0, 0, 0, 3000, 3000, 3000, 3000, 1500, 0])
        #expect(q.quantum == 0.004)
    }

    @Test func overflowCheckNamesTheParameter() throws {
        let q = try Quantisation(clip: 1, levels: 1 << 16, maxWeight: 1 << 10)
        #expect(throws: Never.self) { try q.checkOverflow(clients: 63) }
        #expect(throws: SecAggError.quantisationOverflow(clients: 64, maxWeight: 1 << 10, levels: 1 << 16, modulusBits: 32)) {
            try q.checkOverflow(clients: 64)
        }
        // 64 x 1024 x 65536 = 2^32: one level less fits (by hand: (2^32 - 1) / 2^16 = 65535).
        #expect(Quantisation.maximumLevels(clients: 64, maxWeight: 1 << 10) == 65535)
        #expect(Quantisation.maximumLevels(clients: 100, maxWeight: 1000) == 42949)
        // In Z_2^64 the same sum fits, and the limit is the 32-bit level type's own.
        let wide = try Quantisation(clip: 1, levels: 1 << 16, maxWeight: 1 << 10, modulusBits: 64)
        #expect(throws: Never.self) { try wide.checkOverflow(clients: 64) }
        #expect(Quantisation.maximumLevels(clients: 64, maxWeight: 1 << 10, modulusBits: 64) == UInt32.max)
    }
}
