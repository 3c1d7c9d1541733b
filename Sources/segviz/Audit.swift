import ArgumentParser
import Federation
import Foundation

/// `segviz audit`: verifies the aggregator's ledger and prints its rounds.
struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify the ledger's hash chain and signatures and every model file against it, and print every round.")

    @Option(help: "The aggregator's state directory.") var state: String
    @Option(help: "Federation file (its aggregator key must have signed every record).") var federation: String

    /// With model selection: which model the round's held-out scores evaluated, its score, and the best model after it.
    static func selection(_ r: LedgerRecord) -> String {
        var out = ""
        if let v = r.validation {
            let score = v.score.map { String(format: "%.4f", $0) } ?? "none"
            out += " validation=model\(v.modelRound):\(score)(\(v.basis))"
        }
        if let b = r.bestModelRound { out += " best=\(b)" }
        return out
    }

    /// With `privacy`: the nodes that attested their budget in the round, and the stop it ended the federation with.
    static func privacy(_ r: LedgerRecord) -> String {
        var out = ""
        if let p = r.privacy { out += " attested=" + (p.nodes.isEmpty ? "-" : p.nodes.joined(separator: ",")) }
        if let s = r.stop { out += " stop=\(s.rawValue)" }
        return out
    }

    func run() throws {
        try failing {
            let f = try FederationFile.load(from: federation)
            let key = try f.aggregatorKey()
            let path = URL(fileURLWithPath: state).appendingPathComponent("ledger.sqlite").path
            guard FileManager.default.fileExists(atPath: path) else {
                throw FederationError.noLedger(path: path)
            }
            let v = try Ledger(path: path).verify(aggregatorKey: key)
            for r in v.records {
                let drops = r.dropouts.sorted { $0.key < $1.key }.map { "\($0.key)@\($0.value)" }.joined(separator: ",")
                print("round \(r.round) \(r.status) survivors=\(r.survivors.joined(separator: ",")) "
                      + "dropouts=\(drops.isEmpty ? "-" : drops) keys_revealed=\(r.secretKeysRevealedFor.joined(separator: ",")) "
                      + "model=\(r.modelHash.prefix(16)) record=\(r.recordHash.prefix(16))"
                      + (r.abortReason.map { " reason=\"\($0)\"" } ?? "") + Self.selection(r) + Self.privacy(r))
            }
            // Every privacy attestation re-verified offline against the node keys of the federation file.
            let attestationProblems = v.records.flatMap { $0.privacyProblems(federation: f) }
            if let p = f.privacy {
                let n = v.records.reduce(0) { $0 + ($1.privacy?.attestations.count ?? 0) }
                print("privacy: budget epsilon=\(p.epsilon) delta=\(p.delta) per patient per site; "
                      + (attestationProblems.isEmpty ? "\(n) attestation(s) verify against the federation file's node keys" : "PROBLEMS below"))
            }
            if let last = v.records.last, let stop = last.stop {
                let n = v.records.filter { $0.status == .completed }.count
                print("federation stopped \(stop.words) after ledger round \(last.round): \(n) of \(f.rounds) round(s) completed")
            }
            // Every completed round's model file and signature against the hash the ledger recorded.
            let models = ModelStore.problems(stateDirectory: state, records: v.records, key: key)
            if v.ok && models.isEmpty && attestationProblems.isEmpty {
                let n = v.records.filter { $0.status == .completed }.count
                print("ledger OK: \(v.records.count) record(s), hash chain and signatures verify; \(n) model files verify against the ledger")
            } else {
                for p in v.problems { print("PROBLEM: \(p)") }
                for m in models { print("PROBLEM: round \(m.round): \(m.path) \(m.problem)") }
                for p in attestationProblems { print("PROBLEM: \(p)") }
                throw ExitCode.failure
            }
        }
    }
}
