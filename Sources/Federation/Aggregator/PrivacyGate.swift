import Foundation
import SecureAggregation

/// The aggregator's side of the privacy budget (`privacy` in the federation file): it takes each node's signed
/// ``PrivacyAttestation`` for the running attempt, refuses the masked input of a node that has not attested, puts
/// the survivors' attestations into the ledger and the signed model (``RoundPrivacy``), and stops the federation
/// (``FederationStop/privacyBudget``) once so many nodes declined with `privacy-budget` that no round can
/// complete again: a node's spent epsilon only grows and every round costs the same, so such a node never trains
/// again.
extension Coordinator {
    /// Node `node`'s attestation for attempt `round`/`session` (`POST /v1/rounds/{round}/{session}/privacy`).
    /// 409 when the federation has no budget, is over, or the attempt is not the current one; 400 when the
    /// attestation does not verify (its field named).
    public func attest(node: String, round r: Int, session s: String, attestation: PrivacyAttestation) throws {
        startRoundIfNeeded()
        guard federation.privacy != nil else { throw Refusal(status: 409, reason: "this federation has no privacy budget to attest") }
        guard !finished else { throw Refusal(status: 409, reason: "the federation has finished") }
        guard roster.contains(node) else { throw Refusal(status: 403, reason: "unknown node") }
        guard r == round, s == currentSession, server != nil else {
            throw Refusal(status: 409, reason: "round \(r)/\(s.prefix(8)) is not the current round \(round)/\(currentSession.prefix(8))")
        }
        do throws(PrivacyAttestation.Problem) {
            try attestation.verify(federation: federation, sender: node, round: r, session: s)
        } catch {
            throw Refusal(status: 400, reason: "\(error)")
        }
        if attestations[node] == nil { log("round \(round): \(node) attests that its spent epsilon is within the budget") }
        attestations[node] = attestation
    }

    /// Refuses `node`'s message in `phase` when it is a masked input and the node has not attested for this
    /// attempt (only with `privacy`): its update would enter a model without the statement that it is within
    /// the budget. The node then drops out at MaskedInput like any node whose input does not arrive.
    func requireAttestation(node: String, phase: ProtocolPhase) throws {
        guard federation.privacy != nil, phase == .maskedInput, attestations[node] == nil else { return }
        throw Refusal(status: 409, reason: "round \(round): \(node) has not attested its privacy budget for this attempt "
                      + "(POST /v1/rounds/\(round)/\(currentSession.prefix(8))…/privacy before the masked input)")
    }

    /// The ledger's and the model's `privacy` for `nodes` (nil without a budget).
    func roundPrivacy(nodes: [String]) -> RoundPrivacy? {
        federation.privacy.map { RoundPrivacy($0, attestations: nodes.compactMap { attestations[$0] }) }
    }

    /// Notes a `privacy-budget` decline; when the nodes left can no longer reach the threshold, closes the
    /// current phase at once (the attempt then aborts, and ``budgetStopDue`` stops the federation).
    func noteBudgetDecline(node: String, now: Date) {
        budgetDeclined.insert(node)
        if budgetStopDue, deadline > now { deadline = now }
    }

    /// True when, under `privacy`, the roster nodes whose budget still allows a round are fewer than the
    /// threshold of secure aggregation: no round can complete any more.
    var budgetStopDue: Bool {
        guard federation.privacy != nil else { return false }
        let threshold = server?.config.threshold ?? federation.secureAggregation.threshold
        return roster.count - budgetDeclined.intersection(roster).count < threshold
    }

    /// The status of the federation's last record as restored on start: a federation that stopped at the budget
    /// stays stopped (the nodes' budgets are still spent).
    static func restoredStop(_ records: [LedgerRecord]) -> FederationStop? {
        records.last?.stop
    }
}
