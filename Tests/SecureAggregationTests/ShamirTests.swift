import PropertyBased
import Testing
@testable import SecureAggregation
import SecureAggregationTesting

@Suite struct ShamirTests {
    @Test func fieldKnownAnswers() {
        // FIPS-197 4.2: {57} x {83} = {c1}; {53} and {ca} are inverses.
        #expect(GF256.multiply(0x57, 0x83) == 0xc1)
        #expect(GF256.multiply(0x53, 0xca) == 0x01)
        #expect(GF256.inverse(0x53) == 0xca)
        for a in 1 ... 255 { #expect(GF256.multiply(UInt8(a), GF256.inverse(UInt8(a))) == 1) }
        // Known shares: secret 0x53, coefficient 0xca: f(1) = 0x53 ^ 0xca, f(2) = 0x53 ^ (0xca * 2).
        let shares = Shamir.split([0x53], threshold: 2, count: 3, coefficients: [0xca])
        #expect(shares.map(\.value) == [[0x99], [0xdc], [0x53 ^ GF256.multiply(0xca, 3)]])
    }

    /// Every subset of size t rebuilds all 32 bytes; t-1 shares do not.
    @Test(arguments: [(5, 3), (7, 4), (8, 5), (10, 6)])
    func everyThresholdSubsetReconstructs(n: Int, t: Int) throws {
        var rng = SeededByteSource(seed: UInt64(n * 100 + t))
        let secret = rng.bytes(32)
        let shares = try Shamir.split(secret, threshold: t, count: n, using: &rng)
        var subsets = 0
        func visit(_ start: Int, _ chosen: [Shamir.Share]) throws {
            if chosen.count == t {
                #expect(try Shamir.combine(chosen, threshold: t) == secret)
                #expect(try Shamir.combine(Array(chosen.reversed()), threshold: t) == secret)
                subsets += 1
                return
            }
            guard start < n else { return }
            for i in start ..< n { try visit(i + 1, chosen + [shares[i]]) }
        }
        try visit(0, [])
        var binom = 1
        for i in 0 ..< t { binom = binom * (n - i) / (i + 1) }
        #expect(subsets == binom)
        #expect(throws: SecAggError.self) { try Shamir.combine(Array(shares.prefix(t - 1)), threshold: t) }
        #expect(try Shamir.combine(Array(shares.prefix(t - 1)), threshold: t - 1) != secret)
    }

    /// t - 1 shares are uniformly distributed whatever the secret: over all coefficient choices,
    /// every combination of share values occurs exactly once, for any two secrets.
    @Test func thresholdMinusOneRevealsNothing() {
        // t = 2, one share at x = 5.
        for secret in [UInt8(0), 0x42, 0xff] {
            var seen = [Int](repeating: 0, count: 256)
            for c in 0 ... 255 {
                let s = Shamir.split([secret], threshold: 2, count: 5, coefficients: [UInt8(c)])
                seen[Int(s[4].value[0])] += 1
            }
            #expect(seen.allSatisfy { $0 == 1 })
        }
        // t = 3, two shares at x = 2 and x = 7.
        for secret in [UInt8(0x00), 0x9d] {
            var seen = [UInt8](repeating: 0, count: 65536)
            for c1 in 0 ... 255 {
                for c2 in 0 ... 255 {
                    let s = Shamir.split([secret], threshold: 3, count: 7, coefficients: [UInt8(c1), UInt8(c2)])
                    seen[Int(s[1].value[0]) << 8 | Int(s[6].value[0])] += 1
                }
            }
            #expect(seen.allSatisfy { $0 == 1 })
        }
    }

    @Test func invalidSharesAreRefused() throws {
        var rng = SeededByteSource(seed: 3)
        let shares = try Shamir.split(rng.bytes(32), threshold: 2, count: 3, using: &rng)
        #expect(throws: SecAggError.self) { try Shamir.combine([shares[0], shares[0]], threshold: 2) }
        #expect(throws: SecAggError.self) { try Shamir.combine([Shamir.Share(x: 0, value: shares[0].value), shares[1]], threshold: 2) }
        #expect(throws: SecAggError.self) { try Shamir.combine([shares[0], Shamir.Share(x: 2, value: [1])], threshold: 2) }
        #expect(throws: SecAggError.self) { try Shamir.split([1], threshold: 3, count: 2, using: &rng) }
        #expect(throws: SecAggError.self) { try Shamir.split([1], threshold: 2, count: 256, using: &rng) }
    }

    @Test func propertyRandomSubsetsReconstruct() async {
        await propertyCheck(count: 200, input: Gen.uint64(in: 0 ... 1_000_000_000), Gen.int(in: 1 ... 40), Gen.int(in: 0 ... 1000)) { (seed, n, pick) throws in
            var rng = SeededByteSource(seed: seed)
            let t = 1 + pick % n
            let secret = rng.bytes(32)
            let shares = try Shamir.split(secret, threshold: t, count: n, using: &rng)
            // A pseudo-random subset of size t.
            var order = Array(shares.indices)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.bytes(1)[0]) % (i + 1)) }
            let subset = order.prefix(t).map { shares[$0] }
            #expect(try Shamir.combine(subset, threshold: t) == secret)
        }
    }
}
