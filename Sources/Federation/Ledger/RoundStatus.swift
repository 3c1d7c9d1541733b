/// How a round ended, as the ledger records it (the raw values are the ledger's JSON and SQL text).
public enum RoundStatus: String, Codable, Sendable, CustomStringConvertible {
    /// The aggregate was unmasked and a new signed global model published.
    case completed
    /// The round ended without a new model (too few survivors, a refused message, a deadline).
    case aborted

    public var description: String { rawValue }
}
