/// Protocol phases as the aggregator reports them (status page, ledger, node polling).
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
}
