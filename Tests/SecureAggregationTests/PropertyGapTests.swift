import PropertyBased
import Testing
@testable import SecureAggregation
import SecureAggregationTesting

/// Properties the older suites leave open: 64-bit quantisation bounds, mask streams that cancel across chunk
/// boundaries in both moduli, and Shamir below its threshold (whole rounds in Z_2^64: `MaskCancellationProperty`).
@Suite struct PropertyGapTests {
    /// For any input (NaN, infinities, huge values included) and weight, a node's 64-bit word is within
    /// [0, levels * weight], and a single node's dequantised value is within one quantum of its clipped input.
    @Test func wideQuantisationStaysInBounds() async {
        await propertyCheck(count: 300, input: Gen.uint64(in: 0 ... 1_000_000_000), Gen.float(in: 0.001 ... 1000), Gen.int(in: 0 ... 31)) { (seed, clip, shift) throws in
            var rng = SeededByteSource(seed: seed)
            let levels = UInt32.max >> UInt32(shift)
            let weight = 1 + UInt32(rng.bytes(1)[0]) << 12
            let q = try Quantisation(clip: clip, levels: levels, maxWeight: weight, modulusBits: 64)
            let specials: [Float] = [.nan, .infinity, -.infinity, .greatestFiniteMagnitude, -clip, clip, 0]
            let x = specials + (0 ..< 25).map { _ in rng.nextUnitFloat() * clip * 3 }
            let r = (0 ..< x.count).map { _ in UInt16(rng.bytes(1)[0]) << 8 | UInt16(rng.bytes(1)[0]) }
            var out = [UInt64](repeating: 0, count: x.count)
            x.withUnsafeBufferPointer { xp in r.withUnsafeBufferPointer { rp in out.withUnsafeMutableBufferPointer { op in
                Quantiser(q).quantise(xp.baseAddress!, count: x.count, weight: weight, random: rp.baseAddress!, into: op.baseAddress!)
            } } }
            for i in x.indices {
                #expect(out[i] <= UInt64(levels) * UInt64(weight), "x \(x[i]): word \(out[i])")
                #expect(out[i] % UInt64(weight) == 0)
                guard !x[i].isNaN else { continue }
                let clipped = Double(min(max(x[i], -clip), clip))
                let back = Quantiser(q).dequantise(out[i], totalWeight: UInt64(weight)) / Double(weight)
                #expect(abs(back - clipped) <= q.quantum * (1 + 1e-9) + 1e-9 * Double(clip), "x \(x[i]) -> \(back)")
            }
        }
    }

    /// Adding and subtracting the same streams (each pair with its own key) gives zero everywhere, for lengths
    /// that span several 2048-word chunks and both the 32- and 64-bit arithmetic; a single stream does not.
    @Test func pairedMaskStreamsCancelAcrossChunks() async {
        await propertyCheck(count: 40, input: Gen.uint64(in: 0 ... 1_000_000_000), Gen.int(in: 1 ... 3 * MaskExpander.chunkWords + 7), Gen.int(in: 1 ... 5)) { (seed, length, pairs) throws in
            var rng = SeededByteSource(seed: seed)
            let wide = seed % 2 == 0
            let words = wide ? 2 * length : length
            let keys = (0 ..< pairs).map { _ in MaskKey(secret: SecretBytes(rng.bytes(32))) }
            var terms = keys.flatMap { [MaskTerm(key: $0, negate: false), MaskTerm(key: $0, negate: true)] }
            // Any order: the sum is commutative mod 2^32 / 2^64.
            for i in stride(from: terms.count - 1, to: 0, by: -1) { terms.swapAt(i, Int(rng.bytes(1)[0]) % (i + 1)) }
            let start = (0 ..< words).map { _ in UInt32(rng.bytes(1)[0]) }
            var acc = start
            MaskArithmetic.apply(terms, to: &acc, wide: wide)
            #expect(acc == start)
            var one = start
            MaskArithmetic.apply([terms[0]], to: &one, wide: wide)
            #expect(words < 4 || one != start)
        }
    }

    /// Below the threshold nothing reconstructs: t - 1 shares are refused at threshold t, and a single changed
    /// share byte changes the reconstructed secret.
    @Test func shamirBelowThresholdAndTamperedShares() async {
        await propertyCheck(count: 150, input: Gen.uint64(in: 0 ... 1_000_000_000), Gen.int(in: 2 ... 30), Gen.int(in: 0 ... 1000)) { (seed, n, pick) throws in
            var rng = SeededByteSource(seed: seed)
            let t = 2 + pick % (n - 1)
            let secret = rng.bytes(32)
            let shares = try Shamir.split(secret, threshold: t, count: n, using: &rng)
            var order = Array(shares.indices)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.bytes(1)[0]) % (i + 1)) }
            let few = order.prefix(t - 1).map { shares[$0] }
            #expect(throws: SecAggError.self) { try Shamir.combine(few, threshold: t) }
            var enough = order.prefix(t).map { shares[$0] }
            let k = Int(rng.bytes(1)[0]) % t, byte = Int(rng.bytes(1)[0]) % 32
            enough[k].value[byte] ^= 1 + rng.bytes(1)[0] % 255
            let wrong = try Shamir.combine(enough, threshold: t)
            #expect(wrong != secret)
            #expect(zip(wrong, secret).enumerated().allSatisfy { $0.offset == byte || $0.element.0 == $0.element.1 })
        }
    }
}
