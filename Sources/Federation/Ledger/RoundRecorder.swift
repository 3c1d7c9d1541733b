import Foundation

/// Tracks who took part in each phase of one round, for the ledger: the nodes that spoke in a phase are
/// its participants; a node that spoke in the previous phase but not this one dropped here.
struct RoundRecorder {
    let round: Int
    let startedAt: Date
    private(set) var spoke: [RoundPhase: Set<String>] = [:]
    static let order: [RoundPhase] = [.advertiseKeys, .shareKeys, .maskedInput, .consistencyCheck, .unmasking]

    init(round: Int, startedAt: Date) {
        self.round = round
        self.startedAt = startedAt
    }

    mutating func record(_ node: String, in phase: RoundPhase) { spoke[phase, default: []].insert(node) }

    /// Dropped node -> the phase in which it went silent, up to `lastPhase`. A node in the roster that never
    /// advertised dropped at `AdvertiseKeys`.
    func dropouts(roster: [String], through lastPhase: RoundPhase) -> [String: String] {
        var out: [String: String] = [:]
        var alive = Set(roster)
        for p in Self.order {
            let s = spoke[p] ?? []
            for n in alive.subtracting(s) { out[n] = p.rawValue }
            alive.formIntersection(s)
            if p == lastPhase { break }
        }
        return out
    }

    /// Users whose secret keys were rebuilt: shared keys (ShareKeys) but sent no masked input.
    var secretKeysRevealed: [String] {
        (spoke[.shareKeys] ?? []).subtracting(spoke[.maskedInput] ?? []).sorted()
    }

    /// Users whose self masks were rebuilt: the masked-input senders.
    var selfMasksRevealed: [String] { (spoke[.maskedInput] ?? []).sorted() }

    /// Record of this round for the ledger (hash and signature are filled in by the ledger).
    func record(status: RoundStatus, abortReason: String?, roster: [String], lastPhase: RoundPhase, survivors: [String],
                modelHash: String, previousModelHash: String, finishedAt: Date) -> LedgerRecord {
        let iso = ISO8601DateFormatter()
        let completed = status == .completed
        return LedgerRecord(round: round, status: status, abortReason: abortReason,
                            participants: (spoke[.advertiseKeys] ?? []).sorted(), survivors: survivors.sorted(),
                            dropouts: dropouts(roster: roster, through: lastPhase),
                            secretKeysRevealedFor: completed ? secretKeysRevealed : [],
                            selfMasksRevealedFor: completed ? selfMasksRevealed : [],
                            modelHash: modelHash, previousModelHash: previousModelHash,
                            previousRecordHash: "", startedAt: iso.string(from: startedAt),
                            finishedAt: iso.string(from: finishedAt), recordHash: "", signature: "")
    }
}
