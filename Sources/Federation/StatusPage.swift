import Foundation

/// The aggregator's human status page (`GET /`): server-rendered HTML that refreshes itself.
enum StatusPage {
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func render(_ c: Coordinator) async -> String {
        let a = await c.announcement()
        let snapshot = await c.statusSnapshot()
        var rows = ""
        for r in snapshot.records {
            let drops = r.dropouts.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
            let dice = snapshot.dice[r.round].map { d in d.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.3f", $0.value))" }.joined(separator: ", ") } ?? ""
            rows += "<tr><td>\(r.round)</td><td>\(escape(r.status))</td><td>\(escape(r.survivors.joined(separator: ", ")))</td>"
                + "<td>\(escape(drops))</td><td>\(escape(dice))</td><td><code>\(r.modelHash.prefix(16))</code></td>"
                + "<td>\(r.signature.isEmpty ? "unsigned" : "signed")</td></tr>\n"
        }
        let nodes = snapshot.nodes.map { "<li>\(escape($0.id)): \(escape($0.organs.joined(separator: ", ")))</li>" }.joined()
        return """
            <!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
            <title>SegViz aggregator: \(escape(snapshot.name))</title>
            <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px 8px}</style>
            </head><body>
            <h1>SegViz federation \(escape(snapshot.name))</h1>
            <p>Round <b>\(a.round)</b> of \(a.rounds), phase <b>\(a.phase.rawValue)</b>; global model of round \(a.modelRound)
            (<code>\(a.modelHash.prefix(16))</code>, signature \(snapshot.modelSignatureOK ? "verifies" : "DOES NOT VERIFY")).</p>
            <p>Ledger: \(snapshot.ledgerOK ? "hash chain and signatures verify" : "PROBLEMS: " + escape(snapshot.ledgerProblems.joined(separator: "; ")))</p>
            <h2>Nodes</h2><ul>\(nodes)</ul>
            <h2>Rounds</h2>
            <table><tr><th>round</th><th>status</th><th>survivors</th><th>dropped (phase)</th><th>Dice</th><th>model</th><th>record</th></tr>
            \(rows)</table></body></html>
            """
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
}

extension Coordinator {
    func statusSnapshot() -> StatusSnapshot {
        let v = try? ledger.verify(aggregatorKey: key.publicKey)
        let sigOK = (try? ModelSignature.verifyFile(path: store.path(round: modelRound), publicKey: key.publicKey)) != nil
        var dice: [Int: [String: Double]] = [:]
        for h in history { dice[h.round] = h.dice }
        return StatusSnapshot(name: federation.name, nodes: federation.nodes, records: v?.records ?? [],
                              ledgerOK: v?.ok ?? false, ledgerProblems: v?.problems ?? ["ledger unreadable"],
                              modelSignatureOK: sigOK, dice: dice)
    }
}
