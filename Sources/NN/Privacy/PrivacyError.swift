/// Why a privacy computation or a differentially private step could not be done.
public enum PrivacyError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A parameter lies outside what the mechanism or the accountant accepts.
    case outOfRange(name: String, value: Double, allowed: String)
    /// No noise multiplier up to `maximum` reaches `targetEpsilon` at this sample rate, step count and delta.
    case targetUnreachable(targetEpsilon: Double, delta: Double, maximum: Double)
    /// Two accounts over different order grids cannot be composed.
    case orderGridMismatch
    /// The network normalises with running batch statistics, which are not private.
    case batchNormalisation(layer: String)
    /// A case of the data set has no patient to answer for it.
    case missingPatient(caseIndex: Int)

    public var description: String {
        switch self {
        case let .outOfRange(n, v, a): return "the \(n) \(v) is outside \(a)"
        case let .targetUnreachable(e, d, m):
            return "no noise multiplier up to \(m) reaches epsilon \(e) at delta \(d): lower the steps or the sample rate, or raise the target"
        case .orderGridMismatch: return "the two privacy accounts use different Rényi orders and cannot be composed"
        case let .batchNormalisation(l):
            return "differential privacy needs instance or group normalisation, but '\(l)' is batch normalisation (its running statistics are not private)"
        case let .missingPatient(i): return "case \(i) has no patient"
        }
    }
}
