import Foundation

/// The aggregator's human status page (`GET /`): server-rendered HTML that refreshes itself every 5 s.
///
/// It shows the federation, the current round and phase, each node's part in the current round (in, waiting,
/// dropped at which phase), Dice per round when the aggregator evaluates, each global model's hash and whether
/// its file still hashes to the ledger's value and its signature verifies, and the ledger's chain status; with
/// `privacy`, the budget and who attested within it in each round.
enum StatusPage {
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func render(_ c: Coordinator) async -> String {
        let a = await c.announcement()
        let s = await c.statusSnapshot()
        let nodes = s.nodes.map { n in
            "<tr><td>\(escape(n.id))</td><td>\(escape(n.organs.joined(separator: ", ")))</td>"
                + "<td class=\"\(s.live[n.id]?.hasPrefix("dropped") == true ? "bad" : "")\">\(escape(s.live[n.id] ?? "-"))</td></tr>"
        }.joined(separator: "\n")
        let organs = Array(Set(s.dice.values.flatMap(\.keys))).sorted()
        var rows = ""
        for r in s.records {
            let drops = r.dropouts.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
            let dice = organs.map { o in "<td>\(s.dice[r.round]?[o].map { String(format: "%.3f", $0) } ?? "")</td>" }.joined()
            let model = s.models[r.round]
            let attested = s.privacy == nil ? "" : "<td>\(escape(r.privacy.map { LogText.list($0.nodes) } ?? "-"))</td>"
            rows += "<tr><td>\(r.round)</td><td>\(escape(r.status.rawValue + (r.stop.map { " (stopped \($0.words))" } ?? "")))</td><td>\(escape(r.survivors.joined(separator: ", ")))</td>"
                + "<td>\(escape(drops))</td>\(attested)\(dice)<td><code>\(escape(String(r.modelHash.prefix(16))))</code></td>"
                + "<td class=\"\(model == "verifies" ? "ok" : "bad")\">\(escape(r.status == .completed ? model ?? "not checked" : "no new model"))</td></tr>\n"
        }
        let diceHeads = organs.map { "<th>Dice \(escape($0))</th>" }.joined()
        let done = a.completedRounds ?? 0
        let phase = a.phase != .finished
            ? "round <b>\(a.round)</b> (global models \(done) of \(a.rounds)), phase <b>\(a.phase.rawValue)</b>"
            : a.failure.map { "<span class=\"bad\">federation FAILED after \(done) of \(a.rounds) rounds: \(escape($0))</span>" }
              ?? a.stop.map { "federation stopped \($0.words) after \(done) of \(a.rounds) rounds (a planned stop)" }
              ?? "all \(a.rounds) rounds done"
        return """
            <!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
            <title>SegViz aggregator: \(escape(s.name))</title>
            <style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin-bottom:1em}
            td,th{border:1px solid #999;padding:4px 8px;text-align:left}.ok{color:#070}.bad{color:#b00;font-weight:bold}</style>
            </head><body>
            <h1>SegViz federation \(escape(s.name))</h1>
            <p id="phase">Now: \(phase). Current global model: round \(a.modelRound) (<code>\(escape(String(a.modelHash.prefix(16))))</code>),
            signature <span class="\(s.modelSignatureOK ? "ok" : "bad")">\(s.modelSignatureOK ? "verifies" : "DOES NOT VERIFY")</span>.</p>
            <p id="ledger">Ledger: <span class="\(s.ledgerOK ? "ok" : "bad")">\(s.ledgerOK ? "hash chain and signatures verify" : "PROBLEMS: " + escape(s.ledgerProblems.joined(separator: "; ")))</span>
            (\(s.records.count) record(s)).</p>
            \(privacyParagraph(s))
            <h2>Nodes</h2>
            <table id="nodes"><tr><th>node</th><th>annotates</th><th>this round</th></tr>
            \(nodes)</table>
            \(organs.isEmpty ? "" : "<h2>Dice per round</h2>" + diceChart(s.dice, organs: organs))
            <h2>Rounds</h2>
            <table id="rounds"><tr><th>round</th><th>status</th><th>survivors</th><th>dropped (phase)</th>\(s.privacy == nil ? "" : "<th>attested within the privacy budget</th>")\(diceHeads)<th>model hash</th><th>model file and signature</th></tr>
            \(rows)</table></body></html>
            """
    }

    /// With `privacy`: the budget and who attested within it in the last completed round (no spent epsilon:
    /// see ``PrivacyAttestation``).
    static func privacyParagraph(_ s: StatusSnapshot) -> String {
        guard let p = s.privacy else { return "" }
        let last = s.records.last { $0.status == .completed }
        return "<p id=\"privacy\">Privacy: DP-SGD at every node, budget epsilon \(p.epsilon), delta \(p.delta) per patient per site. "
            + (last.flatMap { r in r.privacy.map { "Round \(r.round): attested within the budget by \(escape(LogText.list($0.nodes)))." } }
               ?? "No round completed yet.") + "</p>"
    }

    /// An inline SVG line chart of Dice per round, one line per organ.
    static func diceChart(_ dice: [Int: [String: Double]], organs: [String]) -> String {
        let rounds = dice.keys.sorted()
        guard let last = rounds.last else { return "" }
        let (w, h, m) = (480.0, 200.0, 30.0)
        func x(_ r: Int) -> Double { m + (w - 2 * m) * (rounds.count == 1 ? 0.5 : Double(r - rounds[0]) / Double(max(1, last - rounds[0]))) }
        func y(_ d: Double) -> Double { h - m - (h - 2 * m) * max(0, min(1, d)) }
        let colours = ["#c0392b", "#2471a3", "#1e8449", "#7d3c98"]
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" role=\"img\" aria-label=\"Dice per round\">"
        svg += "<line x1=\"\(m)\" y1=\"\(y(0))\" x2=\"\(w - m)\" y2=\"\(y(0))\" stroke=\"#999\"/><line x1=\"\(m)\" y1=\"\(y(0))\" x2=\"\(m)\" y2=\"\(y(1))\" stroke=\"#999\"/>"
        svg += "<text x=\"4\" y=\"\(y(1) + 4)\" font-size=\"10\">1.0</text><text x=\"4\" y=\"\(y(0))\" font-size=\"10\">0.0</text>"
        svg += "<text x=\"\(w / 2 - 20)\" y=\"\(h - 6)\" font-size=\"11\">round \(rounds[0])-\(last)</text>"
        for (i, o) in organs.enumerated() {
            let pts = rounds.compactMap { r in dice[r]?[o].map { String(format: "%.1f,%.1f", x(r), y($0)) } }.joined(separator: " ")
            let c = colours[i % colours.count]
            svg += "<polyline fill=\"none\" stroke=\"\(c)\" stroke-width=\"2\" points=\"\(pts)\"/>"
            svg += "<text x=\"\(w - m - 60)\" y=\"\(m + Double(i) * 14)\" font-size=\"11\" fill=\"\(c)\">\(escape(o))</text>"
        }
        return svg + "</svg>"
    }
}

/// What the status page shows besides the announcement.
struct StatusSnapshot: Sendable {
    var name: String
    var nodes: [FederationFile.NodeEntry]
    var records: [LedgerRecord]
    var ledgerOK: Bool
    var ledgerProblems: [String]
    var modelSignatureOK: Bool
    var dice: [Int: [String: Double]]
    /// Node id -> its part in the current round.
    var live: [String: String]
    /// Round -> "verifies" or what is wrong with that round's model file or signature.
    var models: [Int: String]
    /// The federation's privacy budget (nil: none).
    var privacy: FederationFile.PrivacySpec?
}

extension Coordinator {
    /// The page's figures: the ledger and model checks as of the last round's end (computed on the compute pool,
    /// not on each view), with the live participation of the current round.
    func statusSnapshot() async -> StatusSnapshot {
        if ledgerStatus == nil { await refreshLedgerStatus() }
        let l = ledgerStatus ?? LedgerStatus(verification: nil, modelSignatureOK: false, models: [:])
        let v = l.verification
        var dice: [Int: [String: Double]] = [:]
        for h in history { dice[h.round] = h.dice }
        return StatusSnapshot(name: federation.name, nodes: federation.nodes, records: v?.records ?? [],
                              ledgerOK: v?.ok ?? false, ledgerProblems: v?.problems ?? ["ledger unreadable"],
                              modelSignatureOK: l.modelSignatureOK, dice: dice, live: liveParticipation(), models: l.models,
                              privacy: federation.privacy)
    }
}
