import Foundation
import Tensor

/// The aggregator's note of the attempt it is running (`STATE/attempt.json`, written atomically when an attempt
/// starts, removed when the federation ends). An attempt interrupted by a stop or crash leaves it behind with
/// no ledger record; the next start records that attempt as aborted and runs the round again as a new attempt
/// (the next ledger round): nodes that joined the interrupted one take part again, because their memory only
/// refuses a round that is not after theirs, or a model they already answered an unmasking phase from (the
/// threat model's T12 rule is unchanged).
enum AttemptMarker {
    struct Note: Codable { var round: Int; var startedAt: String }

    static let fileName = "attempt.json"

    static func path(_ stateDirectory: String) -> String {
        URL(fileURLWithPath: stateDirectory).appendingPathComponent(fileName).path
    }

    /// Notes that attempt `round` started (a failure to write is logged; it only costs the restart's record).
    static func write(stateDirectory: String, round: Int, log: (String) -> Void) {
        do {
            let data = try JSONEncoder().encode(Note(round: round, startedAt: ISO8601DateFormatter().string(from: Date())))
            try AtomicFile.write(path: path(stateDirectory), contents: data)
        } catch {
            log("cannot note the attempt in \(path(stateDirectory)): \(error)")
        }
    }

    static func remove(stateDirectory: String) { try? FileManager.default.removeItem(atPath: path(stateDirectory)) }

    /// At start: when the note names the round after the ledger's last record (an attempt that was running
    /// when the aggregator stopped), appends an aborted record for it. Returns the next round and the
    /// interrupted one, if any.
    static func recordInterruptedAttempt(stateDirectory: String, ledger: Ledger, records: [LedgerRecord], modelHash: String,
                                         roster: [String], key: IdentityKey) throws -> (round: Int, interrupted: Int?) {
        let next = (records.last?.round ?? 0) + 1
        guard let data = FileManager.default.contents(atPath: path(stateDirectory)),
              let note = try? JSONDecoder().decode(Note.self, from: data), note.round == next else {
            return (next, nil)
        }
        let iso = ISO8601DateFormatter()
        let rec = LedgerRecord(round: next, status: .aborted, abortReason: "interrupted: the aggregator stopped during this attempt",
                               participants: [], survivors: [], dropouts: [:], secretKeysRevealedFor: [], selfMasksRevealedFor: [],
                               modelHash: modelHash, previousModelHash: modelHash, previousRecordHash: "",
                               startedAt: note.startedAt, finishedAt: iso.string(from: Date()), recordHash: "", signature: "")
        try ledger.append(rec, signer: key)
        return (next + 1, next)
    }
}
