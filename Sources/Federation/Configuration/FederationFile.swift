import Foundation
import SecureAggregation

/// The federation file both the aggregator and every node pin (e.g. `keys/federation.json`).
///
/// It names who takes part (each node's id, identity public key and the organs its labels annotate), the
/// label set, the network, the aggregation strategy, and the secure-aggregation parameters. A node refuses a
/// model not signed by `aggregator.publicKey`; the aggregator refuses requests from keys not listed here.
public struct FederationFile: Codable, Equatable, Sendable {
    /// Format version; this build reads version 1.
    public var version: Int
    /// A human-readable name for logs and the status page.
    public var name: String
    /// The aggregator's identity and where nodes reach it.
    public var aggregator: AggregatorEntry
    /// Federation label numbers to organ names; 0 is background. Default: 1 liver, 2 spleen.
    public var labels: [String: String]
    /// The participating nodes.
    public var nodes: [NodeEntry]
    /// The U-Net every participant trains (MONAI `UNet` arguments).
    public var network: NetworkSpec
    /// How updates are combined.
    public var strategy: Strategy
    /// State-dict name substrings kept local at each node (FedBN: `[".adn.N."]`); the published model carries
    /// the secure average of those blocks too.
    public var localPatterns: [String]
    /// Number of federated rounds.
    public var rounds: Int
    /// Local training epochs per round (the paper: 10).
    public var localEpochs: Int
    /// Local training settings.
    public var training: TrainingSpec
    /// Secure aggregation settings.
    public var secureAggregation: SecureAggregationSpec
    /// Seconds the aggregator waits in each protocol phase before treating missing nodes as dropped.
    public var phaseTimeoutSeconds: Double
    /// Seconds the aggregator waits for nodes to train and advertise their keys at the start of a round.
    public var trainingTimeoutSeconds: Double

    /// The aggregator's entry.
    public struct AggregatorEntry: Codable, Equatable, Sendable {
        /// Identity name, e.g. `aggregator`.
        public var id: String
        /// minisign-format public key line (base64 of `Ed` + key id + key).
        public var publicKey: String
        /// Base URL nodes connect to, e.g. `http://127.0.0.1:8750`.
        public var url: String
        /// The aggregator's TLS certificate (PEM), pinned: with an https URL, nodes trust exactly this
        /// certificate and nothing else (no system roots, no host-name match needed).
        public var tlsCertificate: String?
    }

    /// A node's entry.
    public struct NodeEntry: Codable, Equatable, Sendable {
        /// The node's id (also its key file name).
        public var id: String
        /// minisign-format public key line.
        public var publicKey: String
        /// Organ names this node's labels annotate (a subset of `labels`' values).
        public var organs: [String]
    }

    /// MONAI `UNet(spatial_dims=3, ...)` arguments.
    public struct NetworkSpec: Codable, Equatable, Sendable {
        /// Channels per level, e.g. `[16, 32, 64, 128, 256]`.
        public var channels: [Int]
        /// Down-sampling strides between levels (one fewer than `channels`).
        public var strides: [Int]
        /// Residual units per level.
        public var numResUnits: Int
        /// `batch` or `instance`.
        public var norm: String
        /// Creates the arguments.
        public init(channels: [Int], strides: [Int], numResUnits: Int, norm: String) {
            self.channels = channels; self.strides = strides; self.numResUnits = numResUnits; self.norm = norm
        }
    }

    /// Aggregation strategy.
    public enum Strategy: String, Codable, Equatable, Sendable {
        /// One multi-class model; every parameter averaged over all sites; each site's loss marginalises the
        /// organs it does not annotate into background (Shi et al. 2021, ConDistFL).
        case single
        /// The SegViz paper: a shared core, one binary task head (`model.2.`) per organ averaged over the
        /// sites annotating it.
        case heads
    }

    /// Local training settings.
    public struct TrainingSpec: Codable, Equatable, Sendable {
        /// Patch size in voxels along (i, j, k) of the RAS grid: the network tensor's (D, H, W), as MONAI.
        public var patch: [Int]
        /// Patches per volume per epoch (SegViz: 4, half centred on foreground).
        public var patchesPerVolume: Int
        /// Adam learning rate.
        public var learningRate: Double
        /// Target voxel spacing (x, y, z) in mm.
        public var spacing: [Double]
        /// HU window mapped to 0..1.
        public var window: [Double]
        /// Base seed; each node derives its own from it and its id.
        public var seed: UInt64
    }

    /// Secure aggregation parameters.
    public struct SecureAggregationSpec: Codable, Equatable, Sendable {
        /// Shamir threshold t: the round completes only if at least t nodes survive.
        public var threshold: Int
        /// Updates are clipped to [-clip, clip] before quantisation.
        public var clip: Double
        /// SecAgg+ neighbourhood size; nil means every pair of nodes masks.
        public var neighbours: Int?
        /// Allow a block (e.g. one organ's head) with a single contributor, which discloses it as is.
        public var allowSingleContributorBlocks: Bool
        /// Which collusion the threshold tolerates: absent or `colludingClients` (threshold at least
        /// floor(2h/3) + 1 of h holders), or `none`, an explicit weaker choice (above h/2).
        public var collusionTolerance: CollusionTolerance? = nil
    }

    /// Errors reading a federation file; each names the file and the problem.
    public struct LoadError: Error, CustomStringConvertible {
        /// The file read.
        public var path: String
        /// What is wrong.
        public var problem: String
        public var description: String { "\(path): \(problem)" }
    }

    /// The organ names in label order (label 1, 2, ...).
    public var organNames: [String] {
        labels.compactMap { k, v in Int(k).flatMap { $0 > 0 ? ($0, v) : nil } }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// The node entry for `id`, if listed.
    public func node(_ id: String) -> NodeEntry? { nodes.first { $0.id == id } }

    /// Checks internal consistency; throws a message naming the offending field.
    public func validate() throws -> Void {
        func fail(_ s: String) throws -> Never { throw LoadError(path: "federation", problem: s) }
        if version != 1 { try fail("version \(version) is not supported (this build reads 1)") }
        if nodes.isEmpty { try fail("nodes: empty") }
        if Set(nodes.map(\.id)).count != nodes.count { try fail("nodes: duplicate node id") }
        let organs = Set(organNames)
        if labels["0"] == nil { try fail("labels: 0 (background) is missing") }
        for n in nodes {
            if n.organs.isEmpty { try fail("nodes.\(n.id).organs: empty") }
            for o in n.organs where !organs.contains(o) { try fail("nodes.\(n.id).organs: unknown organ '\(o)'") }
            _ = try Minisign.PublicKey(text: n.publicKey)
        }
        _ = try Minisign.PublicKey(text: aggregator.publicKey)
        if aggregator.url.hasPrefix("https://") && aggregator.tlsCertificate == nil {
            try fail("aggregator.tlsCertificate: an https URL needs the pinned certificate (PEM)")
        }
        if network.channels.count < 2 || network.channels.count > 8 {
            try fail("network.channels: needs 2...8 levels, has \(network.channels.count)")
        }
        if let c = network.channels.first(where: { !(1...1024).contains($0) }) {
            try fail("network.channels: \(c) must be within 1...1024")
        }
        if network.channels.count != network.strides.count + 1 {
            try fail("network.strides: needs \(network.channels.count - 1) entries for \(network.channels.count) channels")
        }
        if let s = network.strides.first(where: { $0 != 1 && $0 != 2 }) { try fail("network.strides: \(s) must be 1 or 2") }
        if !(0...8).contains(network.numResUnits) { try fail("network.numResUnits: \(network.numResUnits) must be within 0...8") }
        if !["batch", "instance"].contains(network.norm) { try fail("network.norm: '\(network.norm)' must be batch or instance") }
        if rounds < 1 { try fail("rounds: must be at least 1") }
        if localEpochs < 1 { try fail("localEpochs: must be at least 1") }
        if training.patch.count != 3 || training.patch.contains(where: { $0 < 8 }) {
            try fail("training.patch: needs three sizes of at least 8")
        }
        let t = secureAggregation.threshold
        if t < 2 || t > nodes.count { try fail("secureAggregation.threshold: \(t) must be within 2...\(nodes.count)") }
        let holders = secureAggregation.neighbours.map { min($0 + 1, nodes.count) } ?? nodes.count
        let tolerance = secureAggregation.collusionTolerance ?? .colludingClients
        if t < tolerance.minimumThreshold(holders: holders) {
            try fail("secureAggregation.threshold: \(t) is below \(tolerance.minimumThreshold(holders: holders)) for \(holders) share holders "
                     + (tolerance == .colludingClients ? "(floor(2h/3) + 1 resists colluding nodes; set secureAggregation.collusionTolerance to \"none\" to choose a weaker threshold explicitly)" : "(more than half)"))
        }
        if !(secureAggregation.clip > 0) { try fail("secureAggregation.clip: must be positive") }
        if !(phaseTimeoutSeconds > 0) { try fail("phaseTimeoutSeconds: must be positive") }
        if !(trainingTimeoutSeconds > 0) { try fail("trainingTimeoutSeconds: must be positive") }
    }

    /// Reads and validates a federation file.
    public static func load(from path: String) throws -> FederationFile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw LoadError(path: path, problem: "cannot read: \(error.localizedDescription)")
        }
        return try decode(data, path: path)
    }

    /// Decodes and validates a federation file's bytes (the fuzzing entry point).
    public static func decode(_ data: Data, path: String = "federation") throws -> FederationFile {
        let f: FederationFile
        do { f = try JSONDecoder().decode(FederationFile.self, from: data) } catch let e as DecodingError {
            throw LoadError(path: path, problem: "invalid federation file: \(describe(e))")
        }
        do { try f.validate() } catch let e as LoadError {
            throw LoadError(path: path, problem: e.problem)
        } catch {
            throw LoadError(path: path, problem: "\(error)")
        }
        return f
    }

    /// Encodes as pretty, key-sorted JSON.
    public func encoded() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try enc.encode(self)
    }

    static func describe(_ e: DecodingError) -> String {
        func path(_ c: [any CodingKey]) -> String { c.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".") }
        switch e {
        case .keyNotFound(let k, let c): return "missing field \((path(c.codingPath + [k])))"
        case .typeMismatch(_, let c): return "wrong type at \(path(c.codingPath))"
        case .valueNotFound(_, let c): return "missing value at \(path(c.codingPath))"
        case .dataCorrupted(let c): return c.codingPath.isEmpty ? "not valid JSON" : "bad value at \(path(c.codingPath))"
        @unknown default: return "\(e)"
        }
    }
}
