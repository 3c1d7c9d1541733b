import SecureAggregation

/// The quantisation a federation file implies, for reporting its error bound.
public enum SecureAggregationBound {
    /// Quantisation levels used for `f` (the largest that cannot overflow for its node count).
    public static func levels(_ f: FederationFile) -> UInt32 {
        RoundSetup.quantisationLevels(clients: f.nodes.count)
    }
    /// Largest per-element error of the averaged update: one quantum, 2 clip / levels.
    public static func meanErrorBound(_ f: FederationFile) -> Double {
        2 * f.secureAggregation.clip / Double(levels(f))
    }
}
