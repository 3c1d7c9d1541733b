import Tensor

/// Errors of the federation layer; each case names the file, field, key, node or round concerned, and its
/// description is a sentence saying what failed and what to do. Tests match cases, never message text.
public enum FederationError: Error, Equatable, CustomStringConvertible {
    /// What a path holds, for messages.
    public enum FileKind: String, Sendable {
        case publicKey = "public key", secretKey = "secret key", signature = "signature", model = "model file"
        case nodeState = "node state", certificate = "TLS certificate or key", folder = "folder"
        case optimiserState = "optimiser state", serverOptimiserState = "server optimiser state", lock = "lock file"
    }

    /// What is wrong with a hex string.
    public enum HexProblem: Equatable, Sendable {
        /// An odd number of digits.
        case oddLength(Int)
        /// A character that is not a hex digit, at this offset.
        case notADigit(offset: Int)
    }

    /// What the ledger was doing when SQLite failed.
    public enum LedgerOperation: Equatable, Sendable {
        case open, read
        case append(round: Int)
    }

    // Identities and keys
    /// A node id (`--id`) that is not 1-64 letters, digits, '-' or '_'.
    case invalidNodeID(id: String)
    /// A key file exists already; keys are never overwritten.
    case keyExists(path: String)
    /// A secret key file that group or others can read (`mode`, octal in the message).
    case keyReadableByOthers(path: String, mode: Int)
    /// A key file that does not parse as minisign's format.
    case malformedKey(path: String, kind: FileKind, problem: Minisign.FormatError)
    /// A public key of the federation file (`field`, e.g. `nodes.2.publicKey`) that does not parse.
    case invalidKeyField(field: String, problem: Minisign.FormatError)
    /// `--key` is not the key the federation file lists for node `node`.
    case keyNotListed(node: String)
    /// `--key` is not the aggregator key of federation `federation`.
    case notTheAggregatorKey(federation: String)
    /// The aggregator answered this node's signed request with HTTP `status` (401/403).
    case refusedByAggregator(node: String, status: Int)

    // Files and folders
    /// A file could not be read (`reason`: the system's message).
    case unreadable(path: String, kind: FileKind, reason: String)
    /// A file could not be written (`reason`: the system's message).
    case unwritable(path: String, kind: FileKind, reason: String)
    /// A folder could not be created (`reason`: the system's message).
    case cannotCreateFolder(path: String, reason: String)
    /// A path that must be a regular file is not (a folder, device, socket...).
    case notARegularFile(path: String, kind: FileKind)
    /// A state file (`kind`: optimiser or server optimiser state) that cannot be used; `problem` says why and what to do.
    case badStateFile(path: String, kind: FileKind, problem: String)
    /// The state folder's lock file could not be opened or locked (`reason`: the system's message).
    case lockFailed(path: String, reason: String)
    /// A completed round's stored model does not match the ledger (`problem`: what differs).
    case storedModelMismatch(path: String, round: Int, problem: String)
    /// A field of the federation file (or a value derived from it) is unusable: `value` is not `expected`.
    case invalidField(field: String, value: String, expected: String)
    /// A file larger than `limit` bytes where a small one is expected.
    case tooLarge(path: String, kind: FileKind, limit: Int)
    /// A PEM certificate (`field` of the federation file, or a file) that cannot be used.
    case invalidCertificate(source: String, reason: String)

    // Hex text
    /// `field` is not hex text.
    case invalidHex(field: String, problem: HexProblem)

    // Models
    /// The file is not a SegViz global model (its metadata `format` is `format`, nil when absent).
    case notAGlobalModel(path: String, format: String?)
    /// The model file's safetensors container is unreadable.
    case unreadableModel(path: String, problem: SafetensorsError)
    /// A manifest key (`architecture.channels`, `spacing`...) is missing or not what `expected` says.
    case manifestKey(path: String, key: String, expected: String)
    /// The model file lacks a tensor the architecture needs.
    case missingTensor(path: String, name: String)
    /// A tensor of the model file has another shape or dtype than the architecture's.
    case tensorMismatch(path: String, name: String, shape: [Int], dtype: String, expected: [Int])
    /// A stored model's hash differs from the one the ledger recorded for it (hex prefixes).
    case modelHashMismatch(path: String, hash: String, ledger: String)
    /// The node refused the global model of round `round` (bad, foreign or malformed signature).
    case refusedModel(round: Int, reason: ModelSignature.Failure)
    /// A signed model of an older layout (`format`), refused rather than run with the wrong axis order.
    case outdatedModel(path: String, format: String)

    // The node's own state
    /// The node state file does not decode (`reason`: the decoder's message).
    case notANodeState(path: String, reason: String)
    /// The node state file has another format version.
    case nodeStateFormat(path: String, found: String, expected: String)
    /// The node state file belongs to another federation or node (`field` is `federation` or `node`).
    case nodeStateOfAnother(path: String, field: String, found: String, expected: String)

    // Federation file against this party
    /// Node `id` is not listed in federation `federation`.
    case unknownNode(id: String, federation: String)
    /// The federation's label set is not SegViz's organs in label order.
    case labelSet(found: [String], expected: [String])
    /// The node's label mapping (`--labels`) annotates other organs than the federation file lists for it.
    case labelsMismatch(node: String, mapping: [String], federation: [String])
    /// A field of the federation file (`training.spacing`...) has the wrong number of values.
    case fieldCount(field: String, expected: Int, found: Int)
    /// This node's federation file differs from the aggregator's (fingerprints; the first differing field when known).
    case federationMismatch(node: String, aggregator: String, firstDifferingField: String?)

    // Ledger
    /// SQLite failed on the ledger (`reason`: SQLite's message).
    case ledgerUnavailable(path: String, operation: LedgerOperation, reason: String)
    /// A ledger record of round `round` follows round `previous` (a gap or a repeat).
    case ledgerOutOfOrder(path: String, round: Int, previous: Int)
    /// The ledger's chain or signatures do not verify.
    case ledgerDoesNotVerify(path: String, problems: [String])
    /// No ledger at `path`.
    case noLedger(path: String)

    public var description: String {
        switch self {
        case let .invalidNodeID(id):
            return "--id: '\(id)' must be 1-64 letters, digits, '-' or '_'"
        case let .keyExists(p):
            return "\(p): already exists; refusing to overwrite a key (move it away or choose another --id)"
        case let .keyReadableByOthers(p, mode):
            return "\(p): secret key is readable by others (mode \(String(mode, radix: 8))); run: chmod 600 \(p)"
        case let .malformedKey(p, kind, problem):
            return "\(p): not a minisign \(kind.rawValue): \(problem)"
        case let .invalidKeyField(field, problem):
            return "federation file, field \(field): not a minisign public key: \(problem) (`segviz federation check FILE` lists every problem)"
        case let .keyNotListed(node):
            return "--key: does not match the public key the federation file lists for '\(node)'"
        case let .notTheAggregatorKey(federation):
            return "--key: is not the aggregator key of federation '\(federation)' (its aggregator.publicKey)"
        case let .refusedByAggregator(node, status):
            return "--key: the aggregator refused node '\(node)' (HTTP \(status)); check that --id and --key match the federation file"
        case let .unreadable(p, kind, reason):
            return "\(p): cannot read the \(kind.rawValue): \(reason)"
        case let .unwritable(p, kind, reason):
            return "\(p): cannot write the \(kind.rawValue): \(reason)"
        case let .cannotCreateFolder(p, reason):
            return "\(p): cannot create the folder: \(reason)"
        case let .notARegularFile(p, kind):
            return "\(p): the \(kind.rawValue) is not a regular file"
        case let .badStateFile(p, kind, problem):
            return "\(p): bad \(kind.rawValue) file: \(problem)"
        case let .lockFailed(p, reason):
            return "\(p): cannot lock the state folder: \(reason)"
        case let .storedModelMismatch(p, round, problem):
            return "\(p): round \(round)'s model \(problem); refusing to start"
        case let .invalidField(field, value, expected):
            return "\(field): \(value) (expected \(expected))"
        case let .tooLarge(p, kind, limit):
            return "\(p): the \(kind.rawValue) is larger than \(limit) bytes"
        case let .invalidCertificate(source, reason):
            return "\(source): not a usable PEM certificate: \(reason)"
        case let .invalidHex(field, .oddLength(n)):
            return "\(field): hex text has an odd number of digits (\(n))"
        case let .invalidHex(field, .notADigit(offset)):
            return "\(field): character \(offset) is not a hex digit"
        case let .notAGlobalModel(p, format):
            return "\(p): not a SegViz global model (metadata format is \(format ?? "missing"), expected \(ModelArtifact.formatValue))"
        case let .unreadableModel(p, problem):
            return "\(p): unreadable model file: \(problem)"
        case let .manifestKey(p, key, expected):
            return "\(p): manifest key '\(key)' is missing or malformed (expected \(expected))"
        case let .missingTensor(p, name):
            return "\(p): model lacks tensor '\(name)'"
        case let .tensorMismatch(p, name, shape, dtype, expected):
            return "\(p): tensor '\(name)' has shape \(shape) \(dtype), expected \(expected) F32"
        case let .modelHashMismatch(p, h, ledger):
            return "\(p): hash \(h) differs from the ledger's \(ledger); the model file was changed or replaced"
        case let .refusedModel(round, reason):
            return "refusing the global model of round \(round): \(reason)"
        case let .outdatedModel(p, f):
            return "\(p): model layout \(f) is refused: its network was trained on (k, j, i) tensors, while segviz now feeds "
                + "MONAI's (i, j, k) order, so its masks would be wrong; retrain it with this version (\(ModelArtifact.formatValue))"
        case let .notANodeState(p, reason):
            return "\(p): not a node state file: \(reason)"
        case let .nodeStateFormat(p, found, expected):
            return "\(p): node state format '\(found)' is not \(expected)"
        case let .nodeStateOfAnother(p, field, found, expected):
            return "\(p): field \(field): state of \(field) '\(found)', not '\(expected)'; use another --state folder"
        case let .unknownNode(id, federation):
            return "--id: '\(id)' is not a node of federation '\(federation)'"
        case let .labelSet(found, expected):
            return "labels: the federation's label set \(found) must be \(expected) (labels 1, 2, ...)"
        case let .labelsMismatch(node, mapping, federation):
            return "--labels: annotates \(mapping) but the federation file lists \(federation) for '\(node)'"
        case let .fieldCount(field, expected, found):
            return "\(field): needs \(expected) values, has \(found)"
        case let .federationMismatch(n, a, field):
            return "--federation: this file's fingerprint \(n) differs from the aggregator's \(a)"
                + (field.map { "; first differing field: \($0)" } ?? "") + "; every party must use the same federation file "
                + "(compare with `segviz federation check FILE`, which prints the fingerprint)"
        case let .ledgerUnavailable(p, operation, reason):
            let what = switch operation {
            case .open: "cannot open"
            case .read: "cannot read records"
            case let .append(round): "cannot append round \(round)"
            }
            return "\(p): \(what): \(reason)"
        case let .ledgerOutOfOrder(p, round, previous):
            return "\(p): round \(round) does not follow round \(previous)"
        case let .ledgerDoesNotVerify(p, problems):
            return "\(p): ledger does not verify: " + problems.joined(separator: "; ")
        case let .noLedger(p):
            return "\(p): no ledger here (give the aggregator's --state folder or its ledger.sqlite)"
        }
    }
}
