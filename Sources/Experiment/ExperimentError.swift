/// What went wrong in `segviz experiment`; every case names the file, field or step at fault.
public enum ExperimentError: Error, Equatable, CustomStringConvertible {
    /// A configuration file (or preset override) has a bad field.
    case config(path: String, field: String, problem: String)
    /// libpng refused to encode an image.
    case png(problem: String)
    /// A file or folder could not be read or written.
    case io(path: String, problem: String)
    /// A secure-aggregation round did not complete.
    case secureRound(round: Int, problem: String)

    public var description: String {
        switch self {
        case let .config(path, field, problem): return "\(path): field '\(field)': \(problem)"
        case let .png(problem): return "PNG encoding failed: \(problem)"
        case let .io(path, problem): return "\(path): \(problem)"
        case let .secureRound(round, problem): return "secure aggregation round \(round) failed: \(problem)"
        }
    }
}
