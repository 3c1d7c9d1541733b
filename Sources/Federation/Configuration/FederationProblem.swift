/// One problem in a federation file, naming the field (dotted path, e.g. `training.patch`) and what is wrong.
/// `FederationFile.LoadError` carries all of a file's problems at once.
public enum FederationProblem: Equatable, Sendable, CustomStringConvertible {
    /// Not JSON, or not a JSON object.
    case notJSON(reason: String)
    /// A file of an older format version; `segviz federation upgrade` converts it.
    case outdatedVersion(found: Int)
    /// A version newer than this build reads.
    case unsupportedVersion(found: Int)
    /// A required field is absent.
    case missingField(field: String)
    /// A field this version does not define (with the closest known name, if one is close).
    case unknownField(field: String, suggestion: String?)
    /// The value has the wrong JSON type.
    case wrongType(field: String, expected: String, found: String)
    /// The value is not one of the allowed values.
    case notAllowed(field: String, value: String, allowed: [String])
    /// A number, length or count outside its limits.
    case outOfRange(field: String, value: String, limits: String)
    /// A string that does not have the required form.
    case badFormat(field: String, value: String, expected: String)
    // Relations between values (beyond what JSON Schema states).
    /// Two entries that must differ do not (node ids, public keys, organ names).
    case duplicate(field: String, value: String)
    /// An organ a node annotates that `labels` does not name.
    case unknownOrgan(field: String, organ: String, known: [String])
    /// A public key that does not parse.
    case invalidKey(field: String, problem: Minisign.FormatError)
    /// An https URL without `aggregator.tlsCertificate`.
    case httpsNeedsPinnedCertificate
    /// `network.strides` must have one entry fewer than `network.channels`.
    case stridesCount(strides: Int, channels: Int)
    /// A patch side the network's total stride does not divide (the U-Net could not run on it).
    case patchNotDivisible(patch: [Int], totalStride: Int)
    /// `training.window` must be [low, high] with low < high.
    case windowNotOrdered(low: Double, high: Double)
    /// The threshold is outside what the node count and collusion setting allow.
    case threshold(value: Int, minimum: Int, maximum: Int, holders: Int, tolerance: String)
    /// A block (the shared core, or an organ's head) that can never have enough contributors.
    case tooFewContributors(block: String, contributors: Int)
    /// The contributor sets would disclose a node's sample count.
    case weightDisclosed(node: String)
    /// Another secure-aggregation setting the protocol refuses.
    case secureAggregation(field: String, reason: String)
    /// A `privacy` setting that cannot hold (`PrivacySpec.swift`).
    case privacy(field: String, reason: String)

    /// The dotted path of the field concerned (empty for the whole file).
    public var field: String {
        switch self {
        case .notJSON: return ""
        case .outdatedVersion, .unsupportedVersion: return "version"
        case let .missingField(f), let .unknownField(f, _), let .wrongType(f, _, _), let .notAllowed(f, _, _),
             let .outOfRange(f, _, _), let .badFormat(f, _, _), let .duplicate(f, _), let .unknownOrgan(f, _, _),
             let .invalidKey(f, _), let .secureAggregation(f, _), let .privacy(f, _):
            return f
        case .httpsNeedsPinnedCertificate: return "aggregator.tlsCertificate"
        case .stridesCount: return "network.strides"
        case .patchNotDivisible: return "training.patch"
        case .windowNotOrdered: return "training.window"
        case .threshold: return "secureAggregation.threshold"
        case .tooFewContributors: return "secureAggregation.allowSingleContributorBlocks"
        case .weightDisclosed: return "nodes"
        }
    }

    /// True for problems JSON Schema (`federation.schema.json`) also finds; false for relations only segviz checks.
    public var isStructural: Bool {
        switch self {
        case .notJSON, .outdatedVersion, .unsupportedVersion, .missingField, .unknownField, .wrongType, .notAllowed,
             .outOfRange, .badFormat:
            return true
        default:
            return false
        }
    }

    public var description: String {
        switch self {
        case let .notJSON(r): return "not a JSON object: \(r)"
        case let .outdatedVersion(v):
            return "version: \(v) is an older format (this build reads \(FederationSchema.version)); "
                + "convert it with `segviz federation upgrade FILE` (it rewrites the file, keeping a .v\(v).bak copy)"
        case let .unsupportedVersion(v): return "version: \(v) is newer than this build reads (\(FederationSchema.version)); update segviz"
        case let .missingField(f): return "\(f): required field is missing"
        case let .unknownField(f, s): return "\(f): unknown field" + (s.map { " (did you mean '\($0)'?)" } ?? "")
        case let .wrongType(f, e, found): return "\(f): expected \(e), found \(found)"
        case let .notAllowed(f, v, a): return "\(f): '\(v)' is not allowed; allowed values: \(a.joined(separator: ", "))"
        case let .outOfRange(f, v, l): return "\(f): \(v) is out of range (\(l))"
        case let .badFormat(f, v, e): return "\(f): '\(v.prefix(60))' is not \(e)"
        case let .duplicate(f, v): return "\(f): '\(v)' appears more than once"
        case let .unknownOrgan(f, o, k): return "\(f): unknown organ '\(o)'; labels name: \(k.joined(separator: ", "))"
        case let .invalidKey(f, r): return "\(f): not a minisign public key (\(r))"
        case .httpsNeedsPinnedCertificate:
            return "aggregator.tlsCertificate: an https URL needs the aggregator's certificate (PEM) pinned here"
        case let .stridesCount(s, c): return "network.strides: needs \(c - 1) entries for \(c) channels, has \(s)"
        case let .patchNotDivisible(p, s):
            let fix = p.map { max(s, ($0 + s / 2) / s * s) }
            return "training.patch: \(p) must be divisible by the network's total stride \(s) (the product of network.strides) along each axis; e.g. \(fix)"
        case let .windowNotOrdered(lo, hi): return "training.window: [\(lo), \(hi)] must be [low, high] with low < high"
        case let .threshold(t, lo, hi, h, tol):
            var s = "secureAggregation.threshold: \(t) must be within \(lo)...\(hi) for \(h) share holders with collusionTolerance \(tol)"
            if tol == "colludingClients", t < lo {
                s += " (floor(2h/3)+1 resists nodes colluding with the aggregator; set secureAggregation.collusionTolerance to \"none\" to choose a weaker threshold explicitly)"
            }
            return s
        case let .tooFewContributors(b, c):
            return "block '\(b)' would have \(c) contributor(s) with every node present, so secure aggregation would disclose it: "
                + "have at least two nodes annotate each organ, or set secureAggregation.allowSingleContributorBlocks to true to accept the disclosure"
        case let .weightDisclosed(n):
            return "nodes: the organs annotated would let the aggregator work out node '\(n)''s sample count from the weight sums; "
                + "change which organs the nodes annotate, or set secureAggregation.allowSingleContributorBlocks to true to accept it"
        case let .secureAggregation(f, r), let .privacy(f, r): return "\(f): \(r)"
        }
    }
}
