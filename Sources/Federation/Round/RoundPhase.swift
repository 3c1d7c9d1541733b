import SecureAggregation

/// Protocol phases as the aggregator reports them (status page, ledger, node polling): the protocol's
/// own `ProtocolPhase`s of a running round, plus `finished` once all rounds are done. The raw values are
/// the wire and ledger strings and equal `ProtocolPhase`'s.
public enum RoundPhase: String, Codable, Sendable {
    /// Nodes fetch the model, train locally, then advertise their round keys.
    case advertiseKeys = "AdvertiseKeys"
    /// Encrypted Shamir shares are exchanged through the aggregator.
    case shareKeys = "ShareKeys"
    /// Masked updates are collected.
    case maskedInput = "MaskedInput"
    /// Survivors sign the survivor set.
    case consistencyCheck = "ConsistencyCheck"
    /// Shares are revealed to remove masks.
    case unmasking = "Unmasking"
    /// All rounds are done.
    case finished = "Finished"

    /// The round phase of a protocol phase; nil for the end states (`completed`, `aborted`), which the
    /// aggregator reports through the round's record instead.
    public init?(_ phase: ProtocolPhase) {
        switch phase {
        case .advertiseKeys: self = .advertiseKeys
        case .shareKeys: self = .shareKeys
        case .maskedInput: self = .maskedInput
        case .consistencyCheck: self = .consistencyCheck
        case .unmasking: self = .unmasking
        case .completed, .aborted: return nil
        }
    }
}

/// Where a node is in a round, as its test hooks (`onPhase`, `segviz node --crash-at/--hold-at`) see it:
/// local training, then the secure-aggregation client's phases.
public enum NodePhase: Hashable, Sendable {
    /// Local training, before the key advertisement.
    case training
    /// A phase of the secure-aggregation client.
    case secureAggregation(ProtocolPhase)

    /// Every phase, in the order a round passes them.
    public static let allCases: [NodePhase] = [.training] + ProtocolPhase.allCases.map { .secureAggregation($0) }

    /// The name used in logs and on the command line ("Training", or the protocol phase's raw value).
    public var name: String {
        switch self {
        case .training: return "Training"
        case let .secureAggregation(p): return p.rawValue
        }
    }

    /// The phase named `name` (see `name`); nil for any other string.
    public init?(name: String) {
        guard let p = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = p
    }
}
