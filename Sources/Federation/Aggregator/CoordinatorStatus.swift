import Foundation

extension Coordinator {
    /// Node id -> its part in the current round, for the status page: "in (sent PHASE)", "waiting (PHASE)",
    /// "dropped at PHASE", or "between rounds" / "federation finished".
    func liveParticipation() -> [String: String] {
        guard !finished else { return Dictionary(uniqueKeysWithValues: roster.map { ($0, "federation finished") }) }
        guard server != nil, let current = RoundPhase(rawValue: phaseName),
              let ci = RoundRecorder.order.firstIndex(of: current) else {
            return Dictionary(uniqueKeysWithValues: roster.map { ($0, "between rounds") })
        }
        var out: [String: String] = [:]
        for node in roster {
            var status: String?
            for p in RoundRecorder.order[..<ci] where !(recorder.spoke[p] ?? []).contains(node) {
                status = "dropped at \(p.rawValue)"
                break
            }
            if status == nil {
                if (recorder.spoke[current] ?? []).contains(node) {
                    status = "in (sent \(current.rawValue))"
                } else {
                    status = current == .advertiseKeys ? "training or waiting (\(current.rawValue))" : "waiting (\(current.rawValue))"
                }
            }
            out[node] = status
        }
        return out
    }

    /// Whether round `r`'s model file exists, hashes to the ledger's `hash` and carries a valid signature by the
    /// aggregator key; checked once per round (the files are immutable) and a failure re-checked each time.
    func modelFileStatus(round r: Int, hash: String) -> String {
        if let s = modelStatusCache[r] { return s }
        let path = store.path(round: r)
        let status: String
        do {
            let (bytes, _) = try ModelSignature.verifyFile(path: path, publicKey: key.publicKey)
            status = hex(FedCrypto.blake2b256(bytes)) == hash ? "verifies" : "FILE DOES NOT MATCH THE LEDGER HASH"
        } catch {
            status = "DOES NOT VERIFY: \(error)"
        }
        if status == "verifies" { modelStatusCache[r] = status }
        return status
    }
}
