import Foundation
import Testing
@testable import Experiment

/// A whole experiment on tiny phantoms and a tiny U-Net: every setup, one seed, two rounds of one epoch.
@Suite struct PipelineTests {
    static var tiny: ExperimentConfig {
        var c = ExperimentConfig.quick
        c.name = "tiny"
        c.phantom = .init(size: [32, 32, 24], spacing: 9)
        for i in c.sites.indices { c.sites[i].cases = 2 }
        c.external.cases = 3
        c.network = .init(channels: [4, 8, 16], numResUnits: 1, norm: "batch")
        c.training.rounds = 2
        c.training.localEpochs = 1
        c.training.patch = [32, 32, 16]
        c.training.patchesPerVolume = 2
        return c
    }

    @Test func tinyRunWritesReportAndResults() throws {
        let out = temporaryFolder()
        let results = try ExperimentPipeline.run(config: Self.tiny, out: out, log: { _ in })
        // results.json holds what the run returned.
        let stored = try JSONDecoder().decode(ExperimentResults.self, from: Data(contentsOf: out.appendingPathComponent("results.json")))
        #expect(stored.table == results.table)
        #expect(stored.claims == results.claims)
        // Every setup ran: three single-site baselines and six models over both organs.
        #expect(Set(results.runs.map(\.name)) == Set(["individual-liver-a", "individual-spleen-b", "individual-liver-c"]
            + Setup.allCases.dropFirst().map(\.rawValue)))
        #expect(results.table.count == 3 + 8 * 2)
        // The recipe setups: per-organ stability figures, secure minus plain, the largest update of each round.
        #expect(results.claims.stability["recipe"]?.keys.sorted() == ["liver", "spleen"])
        #expect(results.claims.recipeSecureMinusPlainDice?.keys.sorted() == ["liver", "spleen"])
        #expect(results.runs.first { $0.name == "recipe" }?.largestUpdates?.count == 2)
        for run in results.runs {
            #expect(run.rounds.map(\.round) == [1, 2])
            #expect(run.cases.count == 3 * run.organs.count)
            #expect(run.cases.allSatisfy { $0.dice >= 0 && $0.dice <= 1 })
        }
        // Secure vs plain: checked every round, within the bound.
        let checks = try #require(results.runs.first { $0.name == "segviz-secure" }?.secureChecks)
        #expect(checks.count == 2)
        #expect(results.claims.secureWithinBound == true)
        #expect(try #require(results.claims.secureMaxAbsDifference) <= (results.claims.secureBound ?? 0))
        // Report: self-contained, every PNG embedded and written beside it.
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.components(separatedBy: "data:image/png;base64,").count - 1 == 4)
        #expect(!html.contains("<script") && !html.contains("src=\"http"))
        for row in results.table { #expect(html.contains(ReportHTML.spread(row.dice))) }
        #expect(results.overlays.map(\.rank) == ["best", "median", "worst"])
        for file in results.overlays.map(\.file) + ["dice-per-round.png"] {
            let bytes = try Data(contentsOf: out.appendingPathComponent(file))
            #expect(bytes.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
            #expect(html.contains(bytes.base64EncodedString()))
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: out.path).filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty)
    }
}
