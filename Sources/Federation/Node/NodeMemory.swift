import Foundation
import NN
import Tensor

/// Why a node refused to take part with the model or round it was offered (logged; the node stays up).
public enum ModelRefusal: Error, Equatable, CustomStringConvertible {
    /// The signed model is older than one this node already verified (rollback).
    case olderModel(offered: Int, highest: Int)
    /// The round is not after the last round this node took part in.
    case roundNotIncreasing(offered: Int, last: Int)
    /// The unsigned announcement names another model than the signed one (round or hash).
    case announcementMismatch(announced: String, signed: String)
    /// The signature's trusted comment is not ours or names another file than the one received.
    case trustedCommentMismatch(comment: String)
    /// The node already answered the unmasking phase from this model (in `round`): it contributes again only
    /// from a new model, so no two revealed sums from one model can be subtracted.
    case alreadyRevealed(modelRound: Int, round: Int)
    /// Training this round would take the node's spent privacy past the federation's budget.
    case privacyBudgetExhausted(round: Int, spent: Double, wouldSpend: Double, budget: Double)

    public var description: String {
        switch self {
        case let .olderModel(o, h): return "signed global model of round \(o) is older than model \(h) this node already verified (rollback)"
        case let .roundNotIncreasing(o, l): return "round \(o) is not after round \(l) this node already took part in"
        case let .announcementMismatch(a, s): return "the announcement names model \(a) but the signed model is \(s)"
        case let .trustedCommentMismatch(c): return "the signature's trusted comment '\(c.prefix(120))' does not name the received file"
        case let .alreadyRevealed(m, r):
            return "this node already answered the unmasking phase from global model \(m) (round \(r)); it contributes again only from a new model"
        case let .privacyBudgetExhausted(r, s, w, b):
            return String(format: "round %d would take this node's spent epsilon from %.4f to %.4f, over the federation's budget %g: "
                          + "the node trains no more rounds", r, s, w, b)
        }
    }
}

/// A node's own memory of the federation: the rounds and attempts it took part in and what it revealed.
/// With a folder (`segviz node --state DIR`) it is written atomically after every change and read back at
/// start; a folder of another federation or node is refused.
public actor NodeMemory {
    /// One attempt this node took part in.
    public struct Attempt: Codable, Equatable, Sendable {
        /// The round (as announced; one per attempt).
        public var round: Int
        /// The global model it started from (round from the signature's trusted comment) and its file hash.
        public var modelRound: Int
        public var modelHash: String
        /// Whether the node answered the unmasking phase (revealed shares) in this attempt.
        public var revealed: Bool
        /// Whether the attempt completed: the round then produced global model `round`, so no older one is
        /// acceptable afterwards.
        public var completed: Bool = false
    }

    /// The state file's content.
    public struct State: Codable, Equatable, Sendable {
        /// The format this version writes.
        public static let currentFormat = "segviz-node-state/v1"
        public var format = currentFormat
        public var federation: String
        public var node: String
        public var attempts: [Attempt] = []
        /// The differential privacy this node spent (every DP-SGD step of every round it trained); absent until
        /// it first trains under a `privacy` budget. Never reset: a restart reads it back.
        public var privacy: PrivacyAccount?
        /// The rounds charged to ``privacy``, in order.
        public var privacyRounds: [Int]?
    }

    /// The state file in a state folder.
    public static let fileName = "node-state.json"
    public private(set) var state: State
    let path: String?

    /// In-memory only (`directory` nil) or backed by `directory`/node-state.json (created if absent).
    public init(federation: String, node: String, directory: String?) throws {
        guard let directory else { path = nil; state = State(federation: federation, node: node); return }
        let p = URL(fileURLWithPath: directory).appendingPathComponent(Self.fileName).path
        path = p
        if FileManager.default.fileExists(atPath: p) {
            let s: State
            do { s = try JSONDecoder().decode(State.self, from: try Data(contentsOf: URL(fileURLWithPath: p))) } catch {
                throw FederationError.notANodeState(path: p, reason: "\(error)")
            }
            guard s.format == State.currentFormat else { throw FederationError.nodeStateFormat(path: p, found: s.format, expected: State.currentFormat) }
            guard s.federation == federation else {
                throw FederationError.nodeStateOfAnother(path: p, field: "federation", found: s.federation, expected: federation)
            }
            guard s.node == node else { throw FederationError.nodeStateOfAnother(path: p, field: "node", found: s.node, expected: node) }
            state = s
        } else {
            do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
                throw FederationError.cannotCreateFolder(path: directory, reason: error.localizedDescription)
            }
            state = State(federation: federation, node: node)
            try Self.write(state, to: p)
        }
    }

    /// The newest global model this node verified or saw produced (by a round it completed), or -1.
    public var highestModelRound: Int { state.attempts.map { $0.completed ? max($0.round, $0.modelRound) : $0.modelRound }.max() ?? -1 }

    /// Checks the offered round and verified model against what this node did before, then records the attempt
    /// (durably, before any training or key is made). Throws ``ModelRefusal`` otherwise.
    public func begin(round: Int, modelRound: Int, modelHash: String) throws {
        guard modelRound >= highestModelRound else { throw ModelRefusal.olderModel(offered: modelRound, highest: highestModelRound) }
        if let last = state.attempts.last, round <= last.round { throw ModelRefusal.roundNotIncreasing(offered: round, last: last.round) }
        if let r = state.attempts.first(where: { $0.modelRound == modelRound && $0.revealed }) {
            throw ModelRefusal.alreadyRevealed(modelRound: modelRound, round: r.round)
        }
        state.attempts.append(Attempt(round: round, modelRound: modelRound, modelHash: modelHash, revealed: false))
        try save()
    }

    /// Records, durably and before the shares leave the node, that it answers the unmasking phase of `round`;
    /// throws if it already did from the same model in another attempt.
    public func reveal(round: Int) throws {
        guard let i = state.attempts.lastIndex(where: { $0.round == round }) else {
            throw ModelRefusal.roundNotIncreasing(offered: round, last: state.attempts.last?.round ?? 0)
        }
        let m = state.attempts[i].modelRound
        if let r = state.attempts.first(where: { $0.modelRound == m && $0.revealed && $0.round != round }) {
            throw ModelRefusal.alreadyRevealed(modelRound: m, round: r.round)
        }
        state.attempts[i].revealed = true
        try save()
    }

    /// Records that the attempt of `round` completed (a new global model exists).
    public func complete(round: Int) throws {
        guard let i = state.attempts.lastIndex(where: { $0.round == round }) else { return }
        state.attempts[i].completed = true
        try save()
    }

    /// The epsilon spent so far at `delta` (0 before any DP round).
    public func spentEpsilon(delta: Double) throws -> Double {
        try (state.privacy ?? PrivacyAccount()).epsilon(delta: delta).epsilon
    }

    /// Charges `steps` DP-SGD steps of `mechanism` for `round`, durably and before any training: throws
    /// ``ModelRefusal/privacyBudgetExhausted(round:spent:wouldSpend:budget:)`` (charging nothing) when the total
    /// would exceed `budget` at `delta`. Returns the epsilon spent before and after. Called after
    /// ``begin(round:modelRound:modelHash:)``, which refuses a round not after the last one, so a node restarted
    /// mid-round never trains that round again uncharged; an attempt that aborts stays charged (it trained).
    @discardableResult
    public func chargePrivacy(round: Int, mechanism: SubsampledGaussian, steps: Int, budget: Double, delta: Double) throws
        -> (spent: Double, after: Double) {
        let before = state.privacy ?? PrivacyAccount()
        let spent = try before.epsilon(delta: delta).epsilon
        let next = try before.composing(mechanism, steps: steps)
        let after = try next.epsilon(delta: delta).epsilon
        guard after <= budget else {
            throw ModelRefusal.privacyBudgetExhausted(round: round, spent: spent, wouldSpend: after, budget: budget)
        }
        state.privacy = next
        state.privacyRounds = (state.privacyRounds ?? []) + [round]
        try save()
        return (spent, after)
    }

    private func save() throws {
        if let path { try Self.write(state, to: path) }
    }

    private static func write(_ state: State, to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        do { try AtomicFile.write(path: path, contents: try enc.encode(state)) } catch {
            throw FederationError.unwritable(path: path, kind: .nodeState, reason: "\(error)")
        }
    }
}
