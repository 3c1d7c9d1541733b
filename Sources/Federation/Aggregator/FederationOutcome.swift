import Foundation

/// How a federation ended: the global models it produced against the rounds the federation file asks for, and
/// why it stopped early when it did. The aggregator logs it as its last line and exits non-zero unless it
/// ended as planned (every round, or a stop at the privacy budget); nodes learn it from the final announcement
/// (``RoundAnnouncement/failure``, ``RoundAnnouncement/stop``).
public struct FederationOutcome: Sendable, Equatable {
    /// Rounds completed (global models produced).
    public let completedRounds: Int
    /// Rounds the federation file asks for.
    public let rounds: Int
    /// Why the federation stopped without completing them (nil when it did, or is still running).
    public let failure: String?
    /// Why it stopped before its rounds without failing (at the privacy budget); nil otherwise.
    public var stop: FederationStop? = nil

    /// True when every round completed.
    public var succeeded: Bool { failure == nil && completedRounds >= rounds }

    /// True when it ended as planned: every round completed, or it stopped at the privacy budget (a planned stop:
    /// the aggregator and the nodes exit 0).
    public var endedAsPlanned: Bool { failure == nil && (completedRounds >= rounds || stop != nil) }

    /// The one line that ends the aggregator's log.
    func logLine(modelPath: String, modelHash: String) -> String {
        if let stop, failure == nil {
            return "federation stopped \(stop.words): \(completedRounds) of \(rounds) round(s) completed; final model \(modelPath) (BLAKE2b-256 \(modelHash))"
        }
        if succeeded {
            return "federation finished: \(completedRounds) of \(rounds) round(s) completed; final model \(modelPath) (BLAKE2b-256 \(modelHash))"
        }
        return "federation FAILED: \(completedRounds) of \(rounds) round(s) completed: \(failure ?? "stopped early"); "
            + "latest model \(modelPath)"
    }
}

/// A federation that ended without producing all its rounds: the exit reason of `segviz aggregator` and of
/// every `segviz node` (non-zero exit, one line).
public enum FederationEndError: Error, Equatable, CustomStringConvertible {
    /// The aggregator stopped the federation after `completed` of `rounds` rounds, for `reason`.
    case failed(completed: Int, rounds: Int, reason: String)
    /// The node could not reach the aggregator at `url` for `seconds` (`--give-up-after`); the last problem was `problem`.
    case gaveUp(url: String, seconds: Double, problem: String)

    public var description: String {
        switch self {
        case let .failed(c, r, reason):
            return "the federation failed after \(c) of \(r) round(s): \(reason)"
        case let .gaveUp(url, s, p):
            return "gave up after \(Int(s.rounded())) s without reaching the aggregator at \(url) (last: \(p)); "
                + "check the URL in the federation file or --aggregator, and that the aggregator runs (--give-up-after sets the wait)"
        }
    }
}

extension Coordinator {
    /// The federation's outcome so far (final once ``finished``).
    public var outcome: FederationOutcome {
        FederationOutcome(completedRounds: completedRounds, rounds: federation.rounds, failure: stopReason, stop: stop)
    }

    /// Path of the current global model file.
    public var currentModelPath: String { store.path(round: modelRound) }
}
