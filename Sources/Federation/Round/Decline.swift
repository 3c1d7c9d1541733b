import Foundation

/// Why a node that is up sits out an attempt, told to the aggregator so that it is not waited for
/// (`POST /v1/rounds/{round}/{session}/decline`). A closed set of codes: the aggregator logs and records the
/// code, never a node's own text, and the code says nothing of the node's data.
public enum DeclineReason: String, Codable, Sendable, CaseIterable {
    /// The node refused the offered model or round (rollback, mismatch, already revealed from this model).
    case refusedModel = "refused-model"
    /// The node restarted after joining this attempt (its keys are gone); it rejoins at the next attempt.
    case restarted
    /// Training this round would take the node past the federation's privacy budget.
    case privacyBudget = "privacy-budget"

    /// The reason a node gives for `refusal`.
    public init(_ refusal: ModelRefusal) {
        switch refusal {
        case .privacyBudgetExhausted: self = .privacyBudget
        case let .roundNotIncreasing(offered, last) where offered == last: self = .restarted
        default: self = .refusedModel
        }
    }

    /// Plain words for the aggregator's log and the ledger's abort reason.
    public var words: String {
        switch self {
        case .refusedModel: return "refused the offered model or round"
        case .restarted: return "restarted after joining this attempt"
        case .privacyBudget: return "its privacy budget does not allow another round"
        }
    }

    /// The request body: `{"reason": "<code>"}`.
    public var body: [UInt8] { Array(#"{"reason":"\#(rawValue)"}"#.utf8) }

    /// Parses a request body; nil when it is not one of the codes.
    public init?(body: [UInt8]) {
        struct Wire: Decodable { let reason: String }
        guard body.count <= 256, let w = try? JSONDecoder().decode(Wire.self, from: Data(body)),
              let r = DeclineReason(rawValue: w.reason) else { return nil }
        self = r
    }
}
