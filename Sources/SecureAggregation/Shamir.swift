/// Shamir secret sharing of whole byte strings (32-byte keys and seeds), t-of-n, byte-wise over
/// GF(2^8) (the AES field, x^8 + x^4 + x^3 + x + 1). Share x-coordinates are 1...255, so one secret
/// can have at most 255 holders: the configuration refuses larger holder sets. Any t shares rebuild
/// every byte of the secret; any t-1 shares are uniformly distributed whatever the secret.
public enum Shamir {
    public static let maximumShares = 255

    public struct Share: Equatable, Sendable {
        /// The evaluation point, 1...255.
        public let x: UInt8
        /// The polynomial values, one per secret byte (settable inside the module so that a
        /// holder's copy can be wiped in place).
        public internal(set) var value: [UInt8]
        public init(x: UInt8, value: [UInt8]) {
            self.x = x
            self.value = value
        }
    }

    /// Splits `secret` into `count` shares at x = 1...count; any `threshold` of them rebuild it.
    public static func split<R: RandomSource>(_ secret: [UInt8], threshold: Int, count: Int,
                                              using random: inout R) throws -> [Share] {
        try checkParameters(threshold: threshold, count: count)
        var coefficients = random.bytes(secret.count * (threshold - 1))
        defer { wipe(&coefficients) }
        return split(secret, threshold: threshold, count: count, coefficients: coefficients)
    }

    /// The deterministic core: `coefficients[(k-1)*len + j]` is the coefficient of x^k for byte j.
    static func split(_ secret: [UInt8], threshold: Int, count: Int, coefficients: [UInt8]) -> [Share] {
        let len = secret.count
        precondition(coefficients.count == len * (threshold - 1))
        var shares: [Share] = []
        shares.reserveCapacity(count)
        GF256.mul.withUnsafeBufferPointer { table in
            for xi in 1...count {
                let row = xi << 8
                var value = [UInt8](repeating: 0, count: len)
                for j in 0..<len {
                    // Horner from the highest coefficient down to the secret byte.
                    var acc: UInt8 = 0
                    var k = threshold - 1
                    while k >= 1 {
                        acc = table[row | Int(acc)] ^ coefficients[(k - 1) * len + j]
                        k -= 1
                    }
                    value[j] = table[row | Int(acc)] ^ secret[j]
                }
                shares.append(Share(x: UInt8(xi), value: value))
            }
        }
        return shares
    }

    /// Rebuilds the secret from at least `threshold` shares with distinct x (uses the first
    /// `threshold`). Throws `invalidConfiguration` for too few or inconsistent shares.
    public static func combine(_ shares: [Share], threshold: Int) throws -> [UInt8] {
        guard threshold >= 1, shares.count >= threshold else {
            throw SecAggError.invalidConfiguration(parameter: "threshold",
                                                   reason: "\(shares.count) shares, \(threshold) needed")
        }
        return try interpolate(Array(shares.prefix(threshold)), at: 0)
    }

    /// The value at `x` of the polynomial through `shares` (distinct non-zero x, equal lengths):
    /// at 0 the secret; at another holder's x, what that holder's share must be.
    public static func interpolate(_ used: [Share], at x: UInt8) throws -> [UInt8] {
        guard let len = used.first?.value.count else { return [] }
        var xs = Set<UInt8>()
        for s in used {
            guard s.x != 0, xs.insert(s.x).inserted else {
                throw SecAggError.malformed(message: "Shamir share", reason: "x-coordinate \(s.x) is zero or repeated")
            }
            guard s.value.count == len else {
                throw SecAggError.invalidLength(what: "Shamir share", expected: len, actual: s.value.count)
            }
        }
        if let hit = used.first(where: { $0.x == x }) { return hit.value }
        // Lagrange basis at x: l_i = prod_{j != i} (x - x_j) / (x_i - x_j); subtraction is XOR.
        var lambdas = [UInt8](repeating: 0, count: used.count)
        for i in used.indices {
            var num: UInt8 = 1
            var den: UInt8 = 1
            for j in used.indices where j != i {
                num = GF256.multiply(num, used[j].x ^ x)
                den = GF256.multiply(den, used[j].x ^ used[i].x)
            }
            lambdas[i] = GF256.multiply(num, GF256.inverse(den))
        }
        var secret = [UInt8](repeating: 0, count: len)
        GF256.mul.withUnsafeBufferPointer { table in
            for (i, share) in used.enumerated() {
                let row = Int(lambdas[i]) << 8
                for b in 0..<len { secret[b] ^= table[row | Int(share.value[b])] }
            }
        }
        return secret
    }

    /// Rebuilds `owner`'s secret from every share received (each with its sender), accepting
    /// only a secret that `accept` confirms (its commitment or advertised public key), and only
    /// if every other share lies on the same polynomial. A share off it is forged: its senders
    /// are named in `forgedShare`. If no t shares give an accepted secret with at most one share
    /// left out, the forgers cannot be singled out (`forgedShare` with no holders).
    static func reconstruct(owner: UInt32, shares: [(holder: UInt32, share: Share)], threshold t: Int,
                            accept: ([UInt8]) -> Bool) throws -> [UInt8] {
        guard shares.count >= t else {
            throw SecAggError.reconstructionFailed(user: owner, reason: "\(shares.count) shares, threshold \(t)")
        }
        var basis: [Share]?
        var secret: [UInt8] = []
        // The first t, then the first t with each share in turn left out.
        for skip in [-1] + Array(shares.indices) where shares.count - (skip < 0 ? 0 : 1) >= t {
            let candidate = Array(shares.enumerated().filter { $0.offset != skip }.prefix(t).map(\.element.share))
            if let s = try? interpolate(candidate, at: 0), accept(s) {
                basis = candidate
                secret = s
                break
            }
        }
        guard let basis else { throw SecAggError.forgedShare(owner: owner, holders: []) }
        var forgers: [UInt32] = []
        for (holder, share) in shares where !basis.contains(where: { $0.x == share.x }) {
            let expected = try interpolate(basis, at: share.x)
            if !constantTimeEqual(expected, share.value) { forgers.append(holder) }
        }
        guard forgers.isEmpty else { throw SecAggError.forgedShare(owner: owner, holders: forgers.sorted()) }
        return secret
    }

    static func checkParameters(threshold: Int, count: Int) throws {
        guard count >= 1, count <= maximumShares else {
            throw SecAggError.invalidConfiguration(parameter: "share count",
                                                   reason: "\(count) holders; GF(2^8) sharing allows 1...255 (use neighbourhoods)")
        }
        guard threshold >= 1, threshold <= count else {
            throw SecAggError.invalidConfiguration(parameter: "threshold", reason: "\(threshold) not in 1...\(count)")
        }
    }
}

/// GF(2^8) arithmetic with a full 64 KiB multiplication table.
enum GF256 {
    static let (exp, log): ([UInt8], [Int]) = {
        var exp = [UInt8](repeating: 0, count: 512)
        var log = [Int](repeating: 0, count: 256)
        var x: UInt16 = 1
        for i in 0..<255 {
            exp[i] = UInt8(x)
            log[Int(x)] = i
            // multiply by the generator 3 = x + 1
            var y = x << 1
            if y & 0x100 != 0 { y ^= 0x11b }
            x = y ^ x
        }
        for i in 255..<512 { exp[i] = exp[i - 255] }
        return (exp, log)
    }()

    static let mul: [UInt8] = {
        var t = [UInt8](repeating: 0, count: 65536)
        for a in 1..<256 {
            for b in 1..<256 {
                t[a << 8 | b] = exp[log[a] + log[b]]
            }
        }
        return t
    }()

    static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 { mul[Int(a) << 8 | Int(b)] }

    static func inverse(_ a: UInt8) -> UInt8 {
        precondition(a != 0, "GF(2^8) inverse of zero")
        return exp[255 - log[Int(a)]]
    }
}

/// A share of a secret prints its x-coordinate and length only (`print`, interpolation, `dump`).
extension Shamir.Share: CustomStringConvertible, CustomReflectable {
    public var description: String { "Share(x: \(x), \(value.count) bytes, redacted)" }
    public var customMirror: Mirror { Mirror(self, children: ["x": x], displayStyle: .struct) }
}
