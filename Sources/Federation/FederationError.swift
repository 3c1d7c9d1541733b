/// Errors of the federation layer; each names the file, argument or peer concerned.
public enum FederationError: Error, CustomStringConvertible {
    /// The ledger at `path` could not be opened, read, appended or verified.
    case ledger(path: String, problem: String)
    /// A file could not be read, written or parsed.
    case file(path: String, problem: String)
    /// An argument (CLI flag or field) is unusable.
    case invalidArgument(name: String, problem: String)

    public var description: String {
        switch self {
        case let .ledger(p, pr): return "\(p): \(pr)"
        case let .file(p, pr): return "\(p): \(pr)"
        case let .invalidArgument(n, pr): return "\(n): \(pr)"
        }
    }
}
