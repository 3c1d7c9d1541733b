/// Errors of the federation layer; each names the file, argument or peer concerned.
public enum FederationError: Error, CustomStringConvertible {
    /// The ledger at `path` could not be opened, read, appended or verified.
    case ledger(path: String, problem: String)
    /// A file could not be read, written or parsed.
    case file(path: String, problem: String)
    /// An argument (CLI flag or field) is unusable.
    case invalidArgument(name: String, problem: String)
    /// A signed model of an older layout (`format`), refused rather than run with the wrong axis order.
    case outdatedModel(path: String, format: String)
    /// This node's federation file differs from the aggregator's (fingerprints; the first differing field when known).
    case federationMismatch(node: String, aggregator: String, firstDifferingField: String?)

    public var description: String {
        switch self {
        case let .ledger(p, pr): return "\(p): \(pr)"
        case let .file(p, pr): return "\(p): \(pr)"
        case let .invalidArgument(n, pr): return "\(n): \(pr)"
        case let .federationMismatch(n, a, field):
            return "--federation: this file's fingerprint \(n) differs from the aggregator's \(a)"
                + (field.map { "; first differing field: \($0)" } ?? "") + "; every party must use the same federation file "
                + "(compare with `segviz federation check FILE`, which prints the fingerprint)"
        case let .outdatedModel(p, f):
            return "\(p): model layout \(f) is refused: its network was trained on (k, j, i) tensors, while segviz now feeds "
                + "MONAI's (i, j, k) order, so its masks would be wrong; retrain it with this version (\(ModelArtifact.formatValue))"
        }
    }
}
