import Federation
import Foundation
import Imaging
import Tensor

/// `segviz experiment` end to end: phantoms, every setup, the table and claims, the chart and overlay PNGs,
/// `results.json` and the self-contained `report.html`, all written atomically into the output folder.
public enum ExperimentPipeline {
    /// Short column names of the overlay images.
    static let shortNames: [String: String] = [
        "centralised": "CENTRALISED", "segviz": "SEGVIZ", "segviz-secure": "SEGVIZ SECURE", "segviz-fedbn": "SEGVIZ FEDBN",
        "global": "GLOBAL", "global-distill": "GLOBAL+DISTILL", "recipe": "RECIPE", "recipe-secure": "RECIPE SECURE",
    ]

    /// Runs `config` into `out` (created if needed) and returns the results it wrote. With `privacySweep`, the setups
    /// are the privacy sweep's (``ExperimentConfig/PrivacySweep``; checked by ``ExperimentConfig/validatePrivacySweep(path:)``
    /// first), and the report gains the Dice-vs-epsilon chart (`dice-vs-epsilon.png`) and table.
    @discardableResult
    public static func run(config: ExperimentConfig, out: URL, privacySweep: Bool = false,
                           log: @escaping (String) -> Void) throws -> ExperimentResults {
        let t0 = Date()
        if privacySweep { try config.validatePrivacySweep(path: "(configuration)") }
        let fm = FileManager.default
        do { try fm.createDirectory(at: out, withIntermediateDirectories: true) } catch {
            throw ExperimentError.io(path: out.path, problem: "cannot create the output folder: \(error.localizedDescription)")
        }
        try write(try config.encoded(), to: out.appendingPathComponent("config.json"))
        Compute.threads = config.threads
        let data = try ExperimentData.prepare(config, in: out.appendingPathComponent("data"), log: log)
        let runner = ExperimentRunner(config: config, data: data, log: log)
        let runs: [SetupRun]
        var sweep: PrivacySweepResults?
        if privacySweep { (runs, sweep) = try PrivacySweepRunner.run(config: config, runner: runner, log: log) } else {
            (runs, sweep) = (try runner.runAll(), nil)
        }
        var table = Summary.table(runs: runs)
        if let s = sweep {
            table = PrivacySweepRunner.retitled(table, s)
            sweep = PrivacySweepRunner.withDice(s, table: table)
        }
        let claims = Summary.claims(table: table, runs: runs)

        // Chart: one line per table row, coloured by run name.
        var names: [String] = []
        for row in table where !names.contains(row.name) { names.append(row.name) }
        let series = table.map { row in
            DiceChart.Series(name: row.title, organ: row.organ, values: row.diceByRound,
                             colour: DiceChart.palette[names.firstIndex(of: row.name)! % DiceChart.palette.count],
                             dashed: row.name.hasPrefix("individual-"))
        }
        let chart = DiceChart(organs: ["liver", "spleen"], series: series)
        let chartPNG = try PNG.write(chart.raster(), to: out.appendingPathComponent("dice-per-round.png"))

        let overlays = try renderOverlays(config: config, data: data, runs: runs, predictions: runner.predictions, out: out)
        var setupSeconds: [String: Double] = [:]
        for r in runs { setupSeconds[r.setup, default: 0] += r.seconds }
        if let sweep { setupSeconds = Dictionary(uniqueKeysWithValues: sweep.points.map { ($0.name, $0.seconds) }) }
        var epsilonChart: (svg: String, png: [UInt8])?
        if let sweep {
            let chart = EpsilonChart(sweep: sweep)
            epsilonChart = (chart.svg(), try PNG.write(chart.raster(), to: out.appendingPathComponent("dice-vs-epsilon.png")))
        }
        let results = ExperimentResults(config: config, runs: runs, table: table, claims: claims, overlays: overlays.map(\.0),
                                        seconds: Date().timeIntervalSince(t0), setupSeconds: setupSeconds,
                                        finished: ISO8601DateFormatter().string(from: Date()), privacySweep: sweep)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try write(try enc.encode(results), to: out.appendingPathComponent("results.json"))
        let html = ReportHTML.render(results, chartSVG: chart.svg(), chartPNG: chartPNG, overlays: overlays, epsilonChart: epsilonChart)
        try write(Data(html.utf8), to: out.appendingPathComponent("report.html"))
        log("wrote \(out.appendingPathComponent("report.html").path) and results.json")
        return results
    }

    /// Best, median and worst external case by the primary run's mean organ Dice (last seed), one PNG each.
    static func renderOverlays(config: ExperimentConfig, data: ExperimentData, runs: [SetupRun], predictions: [String: [Volume]],
                               out: URL) throws -> [(OverlayRecord, [UInt8])] {
        let order = ["recipe-secure", "recipe", "segviz-secure", "segviz", "global", "global-distill", "segviz-fedbn", "centralised"]
        var others: [String] = []  // the privacy sweep's runs, in run order
        for r in runs where !order.contains(r.name) && !r.name.hasPrefix("individual-") && predictions[r.name] != nil
            && !others.contains(r.name) { others.append(r.name) }
        guard let primary = order.first(where: { predictions[$0] != nil }) ?? others.first,
              let run = runs.last(where: { $0.name == primary }) else { return [] }
        let ids = data.external.map(\.source.id)
        let meanDice = ids.map { id -> Double in
            let d = run.cases.filter { $0.caseID == id }.map(\.dice)
            return d.reduce(0, +) / Double(max(d.count, 1))
        }
        let ranked = ids.indices.sorted { meanDice[$0] > meanDice[$1] }
        let picks = [("best", ranked.first!), ("median", ranked[ranked.count / 2]), ("worst", ranked.last!)]
        let columnNames = order.filter { predictions[$0] != nil } + others
        let renderer = OverlayRenderer(window: config.training.window)
        var out2: [(OverlayRecord, [UInt8])] = []
        for (rank, n) in picks {
            let c = data.external[n]
            let scores = run.cases.filter { $0.caseID == c.source.id }
                .map { "\($0.organ) \(String(format: "%.3f", $0.dice))" }.joined(separator: " ")
            let columns: [(name: String, prediction: Volume?)] = [("GROUND TRUTH", nil)]
                + columnNames.map { (shortNames[$0] ?? shortName(privacyRun: $0), predictions[$0]![n]) }
            let image = renderer.render(title: "\(rank) case \(c.source.id): \(primary) Dice \(scores)", image: c.image,
                                        truth: c.label, columns: columns)
            let file = "overlay-\(rank).png"
            let bytes = try PNG.write(image, to: out.appendingPathComponent(file))
            out2.append((OverlayRecord(rank: rank, caseID: c.source.id, rankedBy: primary, dice: meanDice[n], file: file), bytes))
        }
        return out2
    }

    /// `DP EPS 4` for the privacy sweep's `recipe-dp-eps4`; other names in capitals.
    static func shortName(privacyRun name: String) -> String {
        name.hasPrefix("recipe-dp-eps") ? "DP EPS " + name.dropFirst("recipe-dp-eps".count) : name.uppercased()
    }

    static func write(_ data: Data, to url: URL) throws {
        do { try AtomicFile.write(path: url.path, contents: data) } catch {
            throw ExperimentError.io(path: url.path, problem: "cannot write: \(error)")
        }
    }
}
