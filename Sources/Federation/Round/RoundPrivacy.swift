import Foundation

/// What a round of a federation with `privacy` publishes about it: the budget and the attestations
/// (``PrivacyAttestation``) of the nodes whose updates are in the round's model. The same value is the ledger
/// record's `privacy` field and the signed model manifest's `privacy` key (round 0's model: no attestations), so
/// `segviz audit` and `segviz verify` re-verify each attestation offline against the federation file.
/// It holds no node's spent epsilon and no count of any kind (see ``PrivacyAttestation``).
public struct RoundPrivacy: Codable, Equatable, Sendable {
    /// The federation's budget: epsilon per patient per site over the whole federation.
    public var epsilon: Double
    /// Delta of the budget.
    public var delta: Double
    /// The attestations of the nodes whose updates are in the model, sorted by node.
    public var attestations: [PrivacyAttestation]

    /// The budget of `spec` with `attestations` (sorted by node here).
    public init(_ spec: FederationFile.PrivacySpec, attestations: [PrivacyAttestation]) {
        epsilon = spec.epsilon
        delta = spec.delta
        self.attestations = attestations.sorted { $0.node < $1.node }
    }

    /// The attesting nodes, sorted.
    public var nodes: [String] { attestations.map(\.node) }

    /// The manifest key's text (JSON, sorted keys).
    public var manifestText: String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: enc.encode(self), as: UTF8.self)) ?? "null"
    }

    /// Parses a manifest's `privacy` text; nil when it is not one.
    public init?(manifestText: String) {
        guard let v = try? JSONDecoder().decode(Self.self, from: Data(manifestText.utf8)) else { return nil }
        self = v
    }

    /// One line for `segviz audit`, `segviz verify` and the status page: the budget and who attested.
    public var summary: String {
        "budget epsilon=\(epsilon) delta=\(delta) per patient per site; "
            + (attestations.isEmpty ? "no attestations" : "attested within it by " + LogText.list(nodes))
    }

    /// What is wrong with this value for round `round` (nil: a model's manifest, any round) whose model contains
    /// the updates of `survivors` (nil: not known), checked against `federation` alone: the budget must be the
    /// file's, each attestation must verify by its node's listed key, be for `round`, and all be for one attempt
    /// (session); each survivor must have attested. Empty when all holds.
    public func problems(federation: FederationFile, round: Int?, survivors: [String]?) -> [String] {
        var out: [String] = []
        if let p = federation.privacy {
            if epsilon != p.epsilon || delta != p.delta {
                out.append("privacy budget epsilon=\(epsilon) delta=\(delta) is not the federation file's epsilon=\(p.epsilon) delta=\(p.delta)")
            }
        } else {
            out.append("privacy recorded, but the federation file has no privacy budget")
        }
        for a in attestations {
            do throws(PrivacyAttestation.Problem) { try a.verify(federation: federation) } catch {
                out.append("\(a.node): \(error)")
            }
            if let round, a.round != round { out.append("\(a.node): privacy attestation for round \(a.round), recorded in round \(round)") }
        }
        if Set(attestations.map(\.session)).count > 1 { out.append("privacy attestations of different attempts (sessions)") }
        if Set(nodes).count != nodes.count { out.append("a node attested twice") }
        if let survivors {
            let missing = survivors.filter { !nodes.contains($0) }
            if !missing.isEmpty { out.append("no privacy attestation from " + LogText.list(missing)) }
        }
        return out
    }
}

/// Why a federation stopped before its planned rounds without failing (the ledger's `stop`, the announcement's
/// `stop`): a planned end, not a crash.
public enum FederationStop: String, Codable, Sendable {
    /// Too many nodes declined with `privacy-budget` for a round to complete again: their budgets are spent.
    case privacyBudget = "privacy-budget"

    /// Plain words for log lines and the status page.
    public var words: String {
        switch self {
        case .privacyBudget: return "at the privacy budget"
        }
    }
}

extension LedgerRecord {
    /// What is wrong with this record's `privacy` against `federation` (`segviz audit`): with a budget, every
    /// completed round carries it and each of its survivors attested (each attestation verifying by its node's
    /// listed key; an aborted attempt's record carries those it received, none when an aggregator stop
    /// interrupted it); without one, no record carries it. Each problem starts with the round.
    public func privacyProblems(federation: FederationFile) -> [String] {
        guard let privacy else {
            return federation.privacy == nil || status != .completed ? []
                : ["round \(round): no privacy record, but the federation file has a privacy budget"]
        }
        return privacy.problems(federation: federation, round: round, survivors: status == .completed ? survivors : nil)
            .map { "round \(round): \($0)" }
    }
}
