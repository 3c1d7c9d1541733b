import Foundation

/// The privacy spent so far as a Rényi-DP curve over a fixed grid of orders (Mironov 2017): composing mechanisms
/// adds their curves order by order, so an account can be kept across rounds and restarts and converted to
/// `(epsilon, delta)` at any time. A value type; `Codable` for a node's state folder.
public struct PrivacyAccount: Sendable, Hashable, Codable {
    /// The Rényi orders (all > 1).
    public let orders: [Double]
    /// The composed RDP epsilon at each order (same count as ``orders``).
    public private(set) var rdp: [Double]
    /// Steps composed so far (for display; the curve is what counts).
    public private(set) var steps: Int

    /// The orders Google's dp_accounting uses by default (its `RdpAccountant`): 1.1 to 10.9 by 0.1, then 11 to 63,
    /// then 128, 256, 512 and 1024.
    public static let standardOrders: [Double] = {
        let fine: [Double] = (1..<100).map { (x: Int) -> Double in 1 + Double(x) / 10 }
        let integers: [Double] = (11...63).map { (x: Int) -> Double in Double(x) }
        let large: [Double] = [128, 256, 512, 1024]
        return fine + integers + large
    }()

    /// An empty account (nothing spent) over `orders`.
    public init(orders: [Double] = PrivacyAccount.standardOrders) {
        self.orders = orders
        rdp = [Double](repeating: 0, count: orders.count)
        steps = 0
    }

    /// This account after `steps` more steps of `mechanism`.
    public func composing(_ mechanism: SubsampledGaussian, steps: Int) throws(PrivacyError) -> PrivacyAccount {
        guard steps >= 0 else { throw .outOfRange(name: "step count", value: Double(steps), allowed: "0 or more") }
        var a = self
        if steps == 0 { return a }
        for (k, alpha) in orders.enumerated() { a.rdp[k] += Double(steps) * mechanism.rdp(order: alpha) }
        a.steps += steps
        return a
    }

    /// This account composed with `other` (same orders).
    public func composing(_ other: PrivacyAccount) throws(PrivacyError) -> PrivacyAccount {
        guard other.orders == orders else { throw .orderGridMismatch }
        var a = self
        for k in rdp.indices { a.rdp[k] += other.rdp[k] }
        a.steps += other.steps
        return a
    }

    private enum CodingKeys: String, CodingKey { case orders, rdp, steps }

    /// Decodes an account, refusing one whose orders and values do not pair up or hold impossible values.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        orders = try c.decode([Double].self, forKey: .orders)
        // An order that gives no bound holds +inf, written as null (JSON has no infinity).
        rdp = try c.decode([Double?].self, forKey: .rdp).map { $0 ?? .infinity }
        steps = try c.decode(Int.self, forKey: .steps)
        guard !orders.isEmpty, orders.count == rdp.count, orders.allSatisfy({ $0 > 1 }),
              rdp.allSatisfy({ $0 >= 0 && !$0.isNaN }), steps >= 0 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription:
                "a privacy account needs as many RDP values (each >= 0) as orders (each > 1) and a step count >= 0"))
        }
    }

    /// Encodes the account; infinite RDP values (orders that give no bound) as null.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(orders, forKey: .orders)
        try c.encode(rdp.map { $0.isFinite ? $0 : nil }, forKey: .rdp)
        try c.encode(steps, forKey: .steps)
    }

    /// The smallest epsilon over the orders such that the composition is `(epsilon, delta)`-DP, with the order that
    /// attains it. Uses the conversion of Canonne, Kamath, Steinke 2020 (Proposition 12 of "The discrete Gaussian for
    /// differential privacy"; also Asoodeh et al. 2020): `eps = rdp + log1p(-1/a) - log(delta a) / (a - 1)`, tighter
    /// than Mironov's `rdp + log(1/delta) / (a - 1)`; zero where `delta^2 + expm1(-rdp) > 0`.
    public func epsilon(delta: Double) throws(PrivacyError) -> (epsilon: Double, order: Double) {
        guard delta > 0, delta < 1 else { throw .outOfRange(name: "delta", value: delta, allowed: "the open interval (0, 1)") }
        var best = (epsilon: Double.infinity, order: orders.first ?? .nan)
        for (alpha, r) in zip(orders, rdp) {
            let e: Double
            if delta * delta + Foundation.expm1(-r) > 0 {
                e = 0
            } else if alpha > 1.01 {
                e = r + Foundation.log1p(-1 / alpha) - Foundation.log(delta * alpha) / (alpha - 1)
            } else {
                e = .infinity
            }
            if e < best.epsilon { best = (e, alpha) }
        }
        return (max(0, best.epsilon), best.order)
    }

    /// The epsilon at `delta` of `steps` steps of the mechanism with `sampleRate` and `noiseMultiplier`.
    public static func epsilon(noiseMultiplier: Double, sampleRate: Double, steps: Int, delta: Double,
                               orders: [Double] = standardOrders) throws(PrivacyError) -> Double {
        let m = try SubsampledGaussian(sampleRate: sampleRate, noiseMultiplier: noiseMultiplier)
        return try PrivacyAccount(orders: orders).composing(m, steps: steps).epsilon(delta: delta).epsilon
    }

    /// The smallest noise multiplier (to a relative precision of `1e-4`, rounded up so that the result never
    /// exceeds the target) with which `steps` steps at `sampleRate` spend at most `targetEpsilon` at `delta`,
    /// on top of what `spent` already holds.
    public static func noiseMultiplier(targetEpsilon: Double, sampleRate: Double, steps: Int, delta: Double,
                                       spent: PrivacyAccount = PrivacyAccount(),
                                       maximum: Double = 1000) throws(PrivacyError) -> Double {
        guard targetEpsilon.isFinite, targetEpsilon > 0 else {
            throw .outOfRange(name: "target epsilon", value: targetEpsilon, allowed: "greater than 0")
        }
        func eps(_ z: Double) throws(PrivacyError) -> Double {
            try spent.composing(SubsampledGaussian(sampleRate: sampleRate, noiseMultiplier: z), steps: steps).epsilon(delta: delta).epsilon
        }
        var hi = 1.0
        while try eps(hi) > targetEpsilon {
            hi *= 2
            if hi > maximum { throw .targetUnreachable(targetEpsilon: targetEpsilon, delta: delta, maximum: maximum) }
        }
        var lo = hi / 2
        if try eps(lo) <= targetEpsilon {
            // Walk down while the target still holds (small multipliers for large targets).
            while lo > 1e-3, try eps(lo / 2) <= targetEpsilon { lo /= 2 }
            hi = lo; lo = lo / 2
            if hi <= 1e-3 { return hi }
        }
        // Invariant: eps(lo) > target >= eps(hi).
        while (hi - lo) / hi > 1e-4 {
            let mid = (lo + hi) / 2
            if try eps(mid) <= targetEpsilon { hi = mid } else { lo = mid }
        }
        return hi
    }
}
