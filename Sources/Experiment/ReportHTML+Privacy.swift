import Foundation

extension ReportHTML {
    /// The privacy sweep's section: the settings, the Dice-vs-epsilon chart (SVG, and its PNG copy embedded) and the
    /// table of every setup (target and spent epsilon per site, noise multiplier, steps, Dice per organ).
    static func privacySection(_ sweep: PrivacySweepResults, chartSVG: String, chartPNG: [UInt8]) -> String {
        let s = sweep.settings
        var h = """
        <h2>Dice against epsilon (patient-level DP-SGD)</h2><p>Every setup trains the shipped recipe federated for \(sweep.rounds)
        rounds × \(sweep.localEpochs) local epochs through Federation's site training, as a node runs it. With privacy, each
        site's local step Poisson-samples its patients at q = \(fmt(s.sampleRate)), clips each sampled patient's gradient to
        \(fmt(s.clip)) and adds Gaussian noise; the noise multiplier is the accountant's smallest for the planned steps
        (rounds × local epochs × ⌈1/q⌉) to stay within the target at δ = \(fmt(s.delta)), derived from the federation file's
        <code>privacy</code> object as every node derives it. Spent ε: the accountant over the steps each site's training took.</p>
        <figure>\(chartSVG)<figcaption>Final mean external Dice per organ against the target ε (log scale); none: the same recipe
        and rounds without privacy. PNG copy: <a href="dice-vs-epsilon.png">dice-vs-epsilon.png</a>.</figcaption></figure>
        <p><img alt="Dice against epsilon (PNG)" src="data:image/png;base64,\(Data(chartPNG).base64EncodedString())"></p>
        <table><tr><th>setup</th><th>target ε</th><th>spent ε (largest site)</th><th>spent ε per site (steps)</th><th>δ</th>
        <th>noise multiplier</th><th>planned steps per site</th><th>mean gradient norm before clipping</th><th>liver Dice</th>
        <th>spleen Dice</th><th>minutes</th></tr>
        """
        for p in sweep.points {
            let perSite = p.sites.map { "\(escapeHTML($0.id)) \(String(format: "%.4f", $0.spentEpsilon)) (\($0.steps))" }
                .joined(separator: ", ")
            h += "<tr><td>\(escapeHTML(p.title))</td><td>\(p.targetEpsilon.map(fmt) ?? "–")</td><td>\(p.spentEpsilon.map { String(format: "%.4f", $0) } ?? "–")</td>"
            h += "<td>\(perSite.isEmpty ? "–" : perSite)</td><td>\(p.delta.map(fmt) ?? "–")</td>"
            h += "<td>\(p.noiseMultiplier.map { String(format: "%.4g", $0) } ?? "–")</td><td>\(p.plannedSteps.map(String.init) ?? "–")</td>"
            h += "<td>\(String(format: "%.3g", p.meanGradientNorm))</td>"
            for organ in ["liver", "spleen"] {
                h += "<td>\(p.dice[organ].map { String(format: "%.3f ± %.3f", $0, p.diceSD[organ] ?? 0) } ?? "–")</td>"
            }
            h += "<td>\(String(format: "%.1f", p.seconds / 60))</td></tr>"
        }
        return h + "</table><p>Dice: mean ± SD over external cases (mean over seeds). Gradient norm: per patient with privacy "
            + "(what the clip bounds), per batch without.</p>"
    }

    /// A number as `%g` writes it.
    static func fmt(_ v: Double) -> String { String(format: "%g", v) }
}
