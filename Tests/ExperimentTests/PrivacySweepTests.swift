import Foundation
import NN
import Testing
@testable import Experiment

/// The privacy sweep on tiny phantoms: DP-SGD at two targets and the run without privacy, end to end.
@Suite(.timeLimit(.minutes(10))) struct PrivacySweepTests {
    static var tiny: ExperimentConfig {
        var c = ExperimentConfig.privacySweepPreset
        c.name = "tiny sweep"
        c.sites = [.init(id: "liver-a", organ: "liver", cases: 4, seed: 11), .init(id: "spleen-b", organ: "spleen", cases: 4, seed: 22)]
        c.external.cases = 2
        c.training.rounds = 2
        c.training.localEpochs = 1
        c.privacySweep.epsilons = [1, 64]
        c.privacySweep.sampleRate = 0.5
        c.privacySweep.delta = 1e-3
        return c
    }

    @Test func tinySweepRecordsEveryTargetAndItsSpentEpsilon() throws {
        let out = temporaryFolder()
        let config = Self.tiny
        let returned = try ExperimentPipeline.run(config: config, out: out, privacySweep: true, log: { _ in })
        let stored = try JSONDecoder().decode(ExperimentResults.self, from: Data(contentsOf: out.appendingPathComponent("results.json")))
        let sweep = try #require(stored.privacySweep)
        #expect(sweep == returned.privacySweep)
        #expect(sweep.points.map(\.name) == ["recipe-dp-eps1", "recipe-dp-eps64", "recipe"])
        #expect(sweep.points.map(\.targetEpsilon) == [1, 64, nil])
        // Steps per site, counted from the configuration: rounds x local epochs x ceil(1 / q) = 2 x 1 x 2.
        let steps = 4
        for p in sweep.points.dropLast() {
            let target = try #require(p.targetEpsilon)
            let spent = try #require(p.spentEpsilon)
            #expect(p.plannedSteps == steps)
            #expect(p.sites.map(\.id) == ["liver-a", "spleen-b"])
            #expect(p.sites.allSatisfy { $0.steps == steps && $0.patients == 4 })
            // The noise multiplier is the smallest that keeps the planned steps within the target (relative precision
            // 1e-4): spent at most the target, and within 1% of it when every planned step was taken.
            #expect(spent <= target + 1e-9, "\(p.name): spent \(spent) over the target \(target)")
            #expect(spent >= 0.99 * target, "\(p.name): spent \(spent) far below the target \(target)")
            let z = try #require(p.noiseMultiplier)
            let recomputed = try PrivacyAccount.epsilon(noiseMultiplier: z, sampleRate: 0.5, steps: steps, delta: 1e-3)
            #expect(abs(recomputed - spent) <= 1e-9)
            #expect(p.delta == 1e-3 && p.clip == 1 && p.sampleRate == 0.5)
        }
        #expect(try #require(sweep.points[0].noiseMultiplier) > (sweep.points[1].noiseMultiplier ?? .infinity))
        let none = sweep.points[2]
        #expect(none.noiseMultiplier == nil && none.spentEpsilon == nil && none.sites.isEmpty && none.plannedSteps == nil)
        // Dice per organ: in range and the table's numbers.
        for p in sweep.points {
            #expect(p.dice.keys.sorted() == ["liver", "spleen"])
            for (organ, d) in p.dice {
                #expect(d >= 0 && d <= 1)
                #expect(stored.table.first { $0.name == p.name && $0.organ == organ }?.dice.mean == d)
            }
        }
        #expect(stored.runs.map(\.name) == ["recipe-dp-eps1", "recipe-dp-eps64", "recipe"])

        // The chart's points are the results' numbers, read back from the SVG in report.html.
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        let chart = EpsilonChart(sweep: sweep)
        var drawn: [String: Double] = [:]
        let pattern = try NSRegularExpression(pattern: ##"<circle cx="(\d+)" cy="(\d+)" r="3.5" fill="#[0-9a-f]{6}" data-organ="(\w+)" data-epsilon="([\w.]+)" data-dice="([0-9.]+)""##)
        for m in pattern.matches(in: html, range: NSRange(html.startIndex..., in: html)) {
            func group(_ i: Int) -> String { String(html[Range(m.range(at: i), in: html)!]) }
            let dice = try #require(Double(group(5)))
            drawn["\(group(3)) \(group(4))"] = dice
            #expect(Int(group(2)) == chart.y(dice))
            #expect(Int(group(1)) == chart.x(group(4) == "none" ? nil : Double(group(4))))
        }
        var expected: [String: Double] = [:]
        for p in sweep.points { for (organ, d) in p.dice { expected["\(organ) \(p.targetEpsilon.map(PrivacyPoint.format) ?? "none")"] = d } }
        #expect(drawn.keys.sorted() == expected.keys.sorted())
        for (k, d) in expected { #expect(abs((drawn[k] ?? -1) - d) <= 1e-6, "\(k)") }
        // The PNG copy is written and embedded, and the table shows each target and its spent epsilon.
        let png = try Data(contentsOf: out.appendingPathComponent("dice-vs-epsilon.png"))
        #expect(png.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
        #expect(html.contains(png.base64EncodedString()))
        for p in sweep.points.dropLast() { #expect(html.contains("<td>\(String(format: "%.4f", p.spentEpsilon ?? 0))</td>")) }
    }

    @Test func epsilonAxisIsLogarithmic() {
        let points = [1.0, 4, 16, 64].map { (e: Double) in
            PrivacyPoint(name: "e\(e)", targetEpsilon: e, sites: [], dice: ["liver": 0.5, "spleen": 0.25], diceSD: [:], seconds: 0)
        } + [PrivacyPoint(name: "recipe", sites: [], dice: ["liver": 0.9, "spleen": 0.8], diceSD: [:], seconds: 0)]
        let chart = EpsilonChart(sweep: PrivacySweepResults(settings: .defaults, rounds: 1, localEpochs: 1, points: points))
        let xs = [1.0, 4, 16, 64].map { chart.x($0) }
        // Equal ratios, equal distances (to the pixels' rounding; a linear axis would put 16 four times as far from 4
        // as 4 from 1); "none" one such distance beyond the largest target.
        for (a, b) in zip(xs, xs.dropFirst().dropFirst()) { #expect(abs((b - a) - 2 * (xs[1] - xs[0])) <= 3) }
        #expect(abs(chart.x(nil) - xs[3] - (xs[1] - xs[0])) <= 2)
        #expect(xs[1] - xs[0] > 50)
        #expect(chart.points.count == 10)
        #expect(chart.points.filter { $0.organ == "spleen" }.map(\.dice) == [0.25, 0.25, 0.25, 0.25, 0.8])
        #expect(chart.y(1) < chart.y(0.5) && chart.y(0.5) < chart.y(0))
        let image = chart.raster()
        #expect(image.width == chart.width && image.height == chart.height)
    }

    func expectField(_ field: String, _ check: () throws -> Void) {
        do {
            try check()
            Issue.record("accepted: expected a problem with \(field)")
        } catch let e as ExperimentError {
            guard case let .config(_, f, _) = e else { Issue.record("\(e)"); return }
            #expect(f == field, "\(e)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func badSweepFieldsAreNamed() throws {
        func decode(_ json: String) throws -> ExperimentConfig {
            try ExperimentConfig.decode(Data(json.utf8), path: "sweep.json", over: .privacySweepPreset)
        }
        expectField("privacySweep.epsilons.1") { _ = try decode(#"{"privacySweep": {"epsilons": [4, 1]}}"#) }
        expectField("privacySweep.epsilons") { _ = try decode(#"{"privacySweep": {"epsilons": []}}"#) }
        expectField("privacySweep.epsilons.0") { _ = try decode(#"{"privacySweep": {"epsilons": [0, 1]}}"#) }
        expectField("privacySweep.delta") { _ = try decode(#"{"privacySweep": {"delta": 0.5}}"#) }
        expectField("privacySweep.sampleRate") { _ = try decode(#"{"privacySweep": {"sampleRate": 0}}"#) }
        expectField("privacySweep.clip") { _ = try decode(#"{"privacySweep": {"clip": -1}}"#) }
        expectField("privacySweep.epsilon") { _ = try decode(#"{"privacySweep": {"epsilon": [1]}}"#) }
        // What only the sweep needs: instance norm, delta below 1 / patients.
        expectField("network.norm") { try decode(#"{"network": {"norm": "batch"}}"#).validatePrivacySweep(path: "sweep.json") }
        expectField("privacySweep.delta") { try decode(#"{"privacySweep": {"delta": 0.01}}"#).validatePrivacySweep(path: "sweep.json") }
        // The pipeline refuses before writing anything.
        var bad = Self.tiny
        bad.network.norm = "batch"
        let out = temporaryFolder()
        expectField("network.norm") { try ExperimentPipeline.run(config: bad, out: out, privacySweep: true, log: { _ in }) }
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("config.json").path))
        // The presets carry a valid sweep.
        try ExperimentConfig.privacySweepPreset.validatePrivacySweep(path: "preset")
        try ExperimentConfig.standard.validate(path: "standard")
        #expect(ExperimentConfig.privacySweepPreset.sites.allSatisfy { $0.cases >= 100 })
        #expect(ExperimentConfig.privacySweepPreset.external == ExperimentConfig.standard.external)
    }
}
