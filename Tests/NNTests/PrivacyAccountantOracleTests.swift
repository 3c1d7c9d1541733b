import Foundation
import SegVizTesting
import Testing
@testable import NN

/// Google's dp_accounting (PyPI) as the accountant's oracle, run from the virtual environment that
/// scripts/dp-oracle-venv.sh makes (scripts/install-deps.sh calls it). Skipped with a printed reason without it.
enum DPOracle {
    static let python = SharedData.repositoryRoot.appendingPathComponent(".build-venv-dp/bin/python").path
    static let script = SharedData.repositoryRoot.appendingPathComponent("scripts/dp-oracle.py").path

    static let available: Bool = {
        guard FileManager.default.isExecutableFile(atPath: python),
              let r = try? Subprocess.run([python, "-c", "import dp_accounting"]), r.status == 0 else {
            print("PrivacyAccountantOracleTests skipped: no .build-venv-dp with dp_accounting (run scripts/dp-oracle-venv.sh)")
            return false
        }
        return true
    }()

    struct Setting: Codable { let z: Double, q: Double, steps: Int, delta: Double }
    struct Request: Codable { let settings: [Setting], orders: [Double] }
    struct Answer: Codable {
        struct One: Codable { let rdp_epsilon: Double, pld_epsilon: Double, rdp_per_order: [Double?] }
        let settings: [One]
        let default_orders: [Double]
    }

    struct OracleFailure: Error, CustomStringConvertible {
        let message: String
        var description: String { "scripts/dp-oracle.py failed: \(message)" }
    }

    static func ask(_ request: Request) throws -> Answer {
        let json = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
        let r = try Subprocess.run([python, script, json])
        guard r.status == 0 else { throw OracleFailure(message: r.error) }
        return try JSONDecoder().decode(Answer.self, from: Data(r.output.utf8))
    }
}

@Suite(.enabled(if: DPOracle.available, "needs .build-venv-dp with dp_accounting (scripts/dp-oracle-venv.sh)"))
struct PrivacyAccountantOracleTests {
    /// Settings spanning small and large sample rates, noise and step counts (DP-SGD's usual range and the
    /// federation's: few patients per site, so large q).
    static let settings: [DPOracle.Setting] = [
        .init(z: 1.1, q: 0.01, steps: 1000, delta: 1e-5),
        .init(z: 0.8, q: 0.05, steps: 500, delta: 1e-5),
        .init(z: 2.0, q: 0.2, steps: 200, delta: 1e-6),
        .init(z: 1.0, q: 0.3, steps: 60, delta: 1e-5),
        .init(z: 5.0, q: 1.0, steps: 10, delta: 1e-5),
        .init(z: 0.6, q: 0.004, steps: 3000, delta: 1e-5),
        .init(z: 3.0, q: 0.5, steps: 400, delta: 1e-4),
    ]
    /// Integer and fractional orders, small and large.
    static let orders: [Double] = [1.1, 1.5, 1.75, 2, 2.5, 3, 4.2, 5, 8, 10.9, 12, 20, 32, 63, 128, 256]

    /// PLD's epsilon <= ours <= RDP's epsilon x 1.01 on every setting; the one-step RDP matches dp_accounting's at
    /// every integer order to a relative 1e-6 and bounds it at every fractional one; the default order grids are the same.
    @Test(.timeLimit(.minutes(5))) func matchesDPAccounting() throws {
        let answer = try DPOracle.ask(.init(settings: Self.settings, orders: Self.orders))
        #expect(answer.default_orders == PrivacyAccount.standardOrders)
        for (s, o) in zip(Self.settings, answer.settings) {
            let ours = try PrivacyAccount.epsilon(noiseMultiplier: s.z, sampleRate: s.q, steps: s.steps, delta: s.delta)
            print("dp oracle z=\(s.z) q=\(s.q) T=\(s.steps) delta=\(s.delta): PLD \(o.pld_epsilon) <= ours \(ours) <= RDP \(o.rdp_epsilon)")
            #expect(o.pld_epsilon <= ours, "z=\(s.z) q=\(s.q) T=\(s.steps)")
            #expect(ours <= o.rdp_epsilon * 1.01, "z=\(s.z) q=\(s.q) T=\(s.steps)")
            let m = try SubsampledGaussian(sampleRate: s.q, noiseMultiplier: s.z)
            for (a, maybe) in zip(Self.orders, o.rdp_per_order) {
                let mine = m.rdp(order: a)
                // Integer orders exactly (1e-6). At fractional orders below 2 dp_accounting 0.6 returns larger
                // (looser, still valid) values than the two-series formula; ours must never exceed theirs, and never
                // the exact value at the next integer order (Rényi divergence grows with the order).
                guard a == a.rounded() else {
                    // An order whose series does not converge (inf) gives no bound: it is left out, never too low.
                    if mine.isFinite { #expect(mine <= m.rdp(order: a.rounded(.up)) * (1 + 1e-9), "order \(a) above order \(a.rounded(.up))") }
                    if let theirs = maybe, mine.isFinite { #expect(mine <= theirs * (1 + 1e-6), "z=\(s.z) q=\(s.q) order \(a): \(mine) above \(theirs)") }
                    if maybe == nil { #expect(mine == .infinity, "z=\(s.z) q=\(s.q) order \(a): dp_accounting has no value, ours \(mine)") }
                    continue
                }
                let theirs = try #require(maybe)
                #expect(abs(mine - theirs) <= 1e-6 * max(theirs, 1e-12), "z=\(s.z) q=\(s.q) order \(a): \(mine) vs \(theirs)")
            }
        }
    }

    /// The noise multiplier solved for a target epsilon spends at most the target by dp_accounting's PLD
    /// accounting and within 3% of it by its RDP accounting (at q = 0.5 the fractional orders differ, see above).
    @Test(.timeLimit(.minutes(5))) func solvedNoiseMeetsTargetInOracle() throws {
        let targets: [(Double, Double, Int)] = [(1, 0.01, 1000), (4, 0.1, 300), (16, 0.5, 100)]
        var settings: [DPOracle.Setting] = []
        for (target, q, t) in targets {
            let z = try PrivacyAccount.noiseMultiplier(targetEpsilon: target, sampleRate: q, steps: t, delta: 1e-5)
            settings.append(.init(z: z, q: q, steps: t, delta: 1e-5))
        }
        let answer = try DPOracle.ask(.init(settings: settings, orders: [2]))
        for ((target, _, _), o) in zip(targets, answer.settings) {
            #expect(o.pld_epsilon <= target, "target \(target): dp_accounting's PLD says \(o.pld_epsilon)")
            #expect(o.rdp_epsilon <= target * 1.03, "target \(target): dp_accounting's RDP says \(o.rdp_epsilon)")
            #expect(o.rdp_epsilon >= target * 0.9, "target \(target): noise larger than needed (\(o.rdp_epsilon))")
        }
    }
}
