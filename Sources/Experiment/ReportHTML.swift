import Foundation

/// The self-contained HTML report: every number from ``ExperimentResults``, the chart as inline SVG, the
/// PNGs as data URIs (the same bytes are written beside the report). No scripts, no network.
enum ReportHTML {
    static func render(_ r: ExperimentResults, chartSVG: String, chartPNG: [UInt8], overlays: [(OverlayRecord, [UInt8])],
                       epsilonChart: (svg: String, png: [UInt8])? = nil) -> String {
        let c = r.config
        var h = """
        <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>\(escapeHTML(c.name))</title>
        <style>body{font-family:sans-serif;max-width:1200px;margin:1em auto;padding:0 1em;color:#222}
        table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
        th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.ok{color:#1a7f37}.bad{color:#c62828}
        img{max-width:100%;image-rendering:pixelated}figure{margin:1em 0}figcaption{font-size:90%;color:#555}</style></head><body>
        <h1>\(escapeHTML(c.name))</h1>
        <p>Sites: \(c.sites.map { "\(escapeHTML($0.id)) (\($0.organ) only, \($0.cases) cases)" }.joined(separator: ", ")); external
        BTCV-style set: \(c.external.cases) cases with both organs labelled. Phantoms \(c.phantom.size.map(String.init).joined(separator: "×"))
        voxels at \(c.phantom.spacing) mm. U-Net channels \(c.network.channels.map(String.init).joined(separator: ",")), \(c.network.norm) norm,
        patch \(c.training.patch.map(String.init).joined(separator: "×")). Every setup: \(c.training.rounds) rounds × \(c.training.localEpochs)
        local epochs (the baselines and the centralised model: the same number of epochs), Adam lr \(c.training.learningRate),
        \(c.seeds) seed(s). Finished \(r.finished) after \(String(format: "%.1f", r.seconds / 60)) minutes.</p>
        """
        if let sweep = r.privacySweep, let chart = epsilonChart {
            h += privacySection(sweep, chartSVG: chart.svg, chartPNG: chart.png)
        } else {
            h += claimsSection(r.claims, clip: c.clip)
        }
        h += tableSection(r)
        h += "<h2>Dice after every round</h2><figure>\(chartSVG)<figcaption>Mean external Dice after each round (mean over seeds); "
        h += "dashed: single-site baselines. PNG copy: <a href=\"dice-per-round.png\">dice-per-round.png</a>.</figcaption></figure>"
        h += "<p><img alt=\"Dice per round (PNG)\" src=\"data:image/png;base64,\(Data(chartPNG).base64EncodedString())\"></p>"
        h += secureSection(r)
        h += "<h2>Overlays: best, median and worst external case</h2>"
        for (o, png) in overlays {
            h += "<figure><img alt=\"\(o.rank) case \(escapeHTML(o.caseID))\" src=\"data:image/png;base64,\(Data(png).base64EncodedString())\">"
            h += "<figcaption>\(o.rank.capitalized) case \(escapeHTML(o.caseID)) by \(escapeHTML(o.rankedBy)) (mean organ Dice "
            h += "\(f3(o.dice))): CT (window \(c.training.window.map { String(format: "%.0f", $0) }.joined(separator: "…")) HU), ground truth "
            h += "filled, predictions outlined; axial and coronal slices through the most labelled voxels. File: "
            h += "<a href=\"\(o.file)\">\(o.file)</a>.</figcaption></figure>"
        }
        h += "<h2>Run time</h2><table><tr><th>setup</th><th>minutes (all seeds)</th></tr>"
        for (name, s) in r.setupSeconds.sorted(by: { $0.key < $1.key }) { h += "<tr><td>\(escapeHTML(name))</td><td>\(String(format: "%.1f", s / 60))</td></tr>" }
        h += "</table>"
        h += """
        <h2>Method notes</h2><ul>
        <li>Individual: each site trains the core plus a binary head for its organ alone; scored on that organ only.</li>
        <li>Centralised: all sites' volumes pooled in one place, one 3-class model; each volume's loss is its site's marginal Dice-CE.</li>
        <li>SegViz: shared core averaged over all sites, each organ's head averaged over the sites annotating it (weights: training volumes);
        inference takes the most confident head above 0.5.</li>
        <li>Secure: the same rounds through the real secure-aggregation client and server state machines (in-process transport), quantised
        with the federation's levels for \(c.sites.count) nodes and clip ±\(c.clip); single-contributor blocks (a head only one site trains) allowed.</li>
        <li>FedBN: the same network with batch norm instead (FedBN is defined on batch-norm layers); the batch-norm tensors
        (<code>.adn.N.</code>) stay local at each site between rounds; the evaluated model carries their average.</li>
        <li>Global: one 3-class model, every tensor averaged over all sites, marginal loss (unannotated organs merged into background).
        Distillation: from round \(c.distillFromRound), where a site's label is background, the previous global model's prediction of an organ
        the site does not annotate becomes the label (hard distillation), and the loss is the full Dice-CE.</li>
        <li>Dice and HD95 (95th-percentile symmetric surface distance, mm) on each external case's own grid; spreads: SD over cases (averaged
        over seeds) and SD of the per-seed means. All numbers: <a href="results.json">results.json</a>.</li></ul></body></html>
        """
        return h
    }

    static func f3(_ v: Double?) -> String { v.map { String(format: "%.3f", $0) } ?? "–" }

    static func verdict(_ ok: Bool?) -> String {
        guard let ok else { return "" }
        return ok ? " <span class=\"ok\">(met)</span>" : " <span class=\"bad\">(not met)</span>"
    }

    static func claimsSection(_ c: Claims, clip: Double) -> String {
        var h = "<h2>Findings</h2><ul>"
        if let d = c.segvizMinusIndividual {
            h += "<li>SegViz (plain) minus the best individual baseline: liver \(f3(d["liver"])), spleen \(f3(d["spleen"])); "
            h += "expected within 0.02\(verdict(c.segvizWithin002OfIndividual)).</li>"
        }
        if let m = c.secureMaxAbsDifference {
            h += "<li>Secure vs plain, same updates each round: largest aggregate difference \(String(format: "%.3g", m)), bound "
            h += "\(String(format: "%.3g", c.secureBound ?? 0)) (largest update \(String(format: "%.3g", c.secureMaxAbsUpdate ?? 0)))"
            h += "\(verdict(c.secureWithinBound))"
            if let u = c.secureMaxAbsUpdate, u > clip {
                h += "; some updates exceeded the clipping range ±\(clip), so those rounds also differ by clipping, not only quantisation"
            }
            h += ".</li>"
        }
        if let d = c.secureMinusPlainDice {
            h += "<li>Final Dice secure minus plain: liver \(f3(d["liver"])), spleen \(f3(d["spleen"])); expected within 0.01\(verdict(c.secureDiceWithin001)).</li>"
        }
        if let d = c.recipeMinusCentralisedDice {
            h += "<li>The shipped recipe (plain) minus centralised: liver \(f3(d["liver"])), spleen \(f3(d["spleen"])); expected within 0.02\(verdict(c.recipeWithin002OfCentralised)).</li>"
        }
        if let d = c.recipeSecureMinusPlainDice {
            h += "<li>The recipe's final Dice secure minus plain: liver \(f3(d["liver"])), spleen \(f3(d["spleen"])); expected within 0.01\(verdict(c.recipeSecureWithin001OfPlain)).</li>"
        }
        for (name, d) in c.minusSegviz.sorted(by: { $0.key < $1.key }) {
            h += "<li>\(escapeHTML(name)) minus SegViz heads: liver \(f3(d["liver"])), spleen \(f3(d["spleen"])).</li>"
        }
        if let g = c.globalBeatsHeads {
            h += "<li>The single global model \(g ? "beats" : "does not beat") the per-organ heads on mean organ Dice.</li>"
        }
        return h + "</ul>"
    }

    static func tableSection(_ r: ExperimentResults) -> String {
        let organs = ["liver", "spleen"]
        var h = "<h2>External set: Dice and HD95</h2><table><tr><th>setup</th>"
        for o in organs { h += "<th>\(o) Dice</th><th>\(o) HD95 (mm)</th>" }
        h += "</tr>"
        var names: [String] = []
        for row in r.table where !names.contains(row.name) { names.append(row.name) }
        for name in names {
            let rows = r.table.filter { $0.name == name }
            h += "<tr><td>\(escapeHTML(rows[0].title))</td>"
            for o in organs {
                guard let row = rows.first(where: { $0.organ == o }) else { h += "<td>–</td><td>–</td>"; continue }
                h += "<td>\(spread(row.dice))</td><td>\(row.hd95.map(spread) ?? "–")\(row.hd95Missing > 0 ? " (\(row.hd95Missing) empty)" : "")</td>"
            }
            h += "</tr>"
        }
        return h + "</table><p>mean ± SD over external cases [± SD over seeds]; n = cases × seeds.</p>"
    }

    static func spread(_ s: Spread) -> String {
        String(format: "%.3f ± %.3f", s.mean, s.sdCases) + (s.sdSeeds.map { String(format: " [± %.3f]", $0) } ?? "")
    }

    static func secureSection(_ r: ExperimentResults) -> String {
        let runs = r.runs.filter { $0.secureChecks != nil }
        guard !runs.isEmpty else { return "" }
        var h = "<h2>Secure vs plain aggregation, per round</h2><table><tr><th>seed</th><th>round</th><th>max |secure − plain|</th>"
        h += "<th>bound (one quantum)</th><th>max |update|</th></tr>"
        for run in runs {
            for c in run.secureChecks ?? [] {
                h += "<tr><td>\(run.seed)</td><td>\(c.round)</td><td>\(String(format: "%.3g", c.maxAbsDifference))</td>"
                h += "<td>\(String(format: "%.3g", c.bound))</td><td>\(String(format: "%.3g", c.maxAbsUpdate))"
                h += "\(c.maxAbsUpdate > r.config.clip ? " (clipped)" : "")</td></tr>"
            }
        }
        return h + "</table>"
    }
}
