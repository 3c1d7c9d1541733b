/// What the aggregator announces for the round in progress; nodes build the identical secure-aggregation
/// configuration from it and the federation file.
public struct RoundAnnouncement: Codable, Equatable, Sendable {
    /// Round number, from 1.
    public var round: Int
    /// Random per round start (hex, 32 bytes): binds every message to this attempt of the round, so messages
    /// from before an aggregator restart are refused; also the SecAgg+ graph's public randomness.
    public var session: String
    /// Current phase.
    public var phase: RoundPhase
    /// Round of the global model nodes must start from.
    public var modelRound: Int
    /// Hex BLAKE2b-256 of that model's file.
    public var modelHash: String
    /// Total rounds in the federation.
    public var rounds: Int
    /// The aggregator's federation file fingerprint (`FederationFile.fingerprint`, also bound into the round's
    /// signed configuration); a node whose own differs refuses to take part.
    public var federationFingerprint: String
    /// The aggregator's per-field digests of its federation file (`FederationFile.fieldDigests`), so such a
    /// node can name the first differing field.
    public var federationFields: [String: String]
    /// Rounds completed so far (global models produced; aborted attempts do not count). Nil from an older aggregator.
    public var completedRounds: Int?
    /// When the federation is over without completing its rounds: why (nil while running or on success).
    public var failure: String?
    /// When the federation stopped before its rounds without failing: why (at the privacy budget); nil otherwise
    /// or from an older aggregator.
    public var stop: FederationStop? = nil
}
