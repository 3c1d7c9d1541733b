import Foundation

extension Coordinator {
    /// Node id -> its part in the current round, for the status page: "in (sent PHASE)", "waiting (PHASE)",
    /// "dropped at PHASE", or "between rounds" / "federation finished".
    func liveParticipation() -> [String: String] {
        guard !finished else {
            return Dictionary(uniqueKeysWithValues: roster.map { ($0, presence.lastSeen[$0] == nil ? "never connected" : "federation finished") })
        }
        guard server != nil, let current = serverPhase.flatMap { RoundPhase($0) },
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
                    let now = Date()
                    if presence.lastSeen[node] == nil {
                        status = "never connected"
                    } else if presence.absent(node) {
                        status = "not seen this round (\(presence.describe(node, now: now)))"
                    } else {
                        status = current == .advertiseKeys ? "training or waiting (\(current.rawValue))" : "waiting (\(current.rawValue))"
                    }
                }
            }
            out[node] = status
        }
        return out
    }

    /// Recomputes the status page's ledger and model checks on the compute pool (when a round ends, and on the
    /// first view): the ledger's chain and signatures, the current model's signature, and each completed round's
    /// model file against the ledger's hash (files that verified once are not hashed again).
    func refreshLedgerStatus() async {
        let (ledger, store, key, current, cache) = (ledger, store, key, modelRound, modelStatusCache)
        let status = await compute.run { () -> LedgerStatus in
            let v = try? ledger.verify(aggregatorKey: key.publicKey)
            let sigOK = (try? ModelSignature.verifyFile(path: store.path(round: current), publicKey: key.publicKey)) != nil
            var models: [Int: String] = [:]
            for r in v?.records ?? [] where r.status == .completed {
                models[r.round] = cache[r.round] ?? Self.modelFileStatus(store: store, key: key, round: r.round, hash: r.modelHash)
            }
            return LedgerStatus(verification: v, modelSignatureOK: sigOK, models: models)
        }
        for (r, s) in status.models where s == Self.verifies { modelStatusCache[r] = s }
        ledgerStatus = status
    }

    static let verifies = "verifies"

    /// Whether round `r`'s model file exists, hashes to the ledger's `hash` and carries a valid signature by the
    /// aggregator key.
    static func modelFileStatus(store: ModelStore, key: IdentityKey, round r: Int, hash: String) -> String {
        let path = store.path(round: r)
        do {
            let (bytes, _) = try ModelSignature.verifyFile(path: path, publicKey: key.publicKey)
            return hex(FedCrypto.blake2b256(bytes)) == hash ? verifies : "FILE DOES NOT MATCH THE LEDGER HASH"
        } catch {
            return "DOES NOT VERIFY: \(error)"
        }
    }
}

/// The ledger and model-file checks the status page shows, as of the last round's end.
struct LedgerStatus: Sendable {
    /// The ledger's verification (nil when it cannot be read).
    var verification: LedgerVerification?
    /// Whether the current model's signature verifies.
    var modelSignatureOK: Bool
    /// Round -> "verifies" or what is wrong with that round's model file or signature.
    var models: [Int: String]
}
