import Foundation
import SecureAggregation

/// The federation file both the aggregator and every node pin (e.g. `keys/federation.json`).
///
/// It names who takes part (each node's id, identity public key and the organs its labels annotate), the
/// label set, the network, the aggregation strategy, and the secure-aggregation parameters. A node refuses a
/// model not signed by `aggregator.publicKey`; the aggregator refuses requests from keys not listed here.
public struct FederationFile: Codable, Equatable, Sendable {
    /// Format version; this build reads `FederationSchema.version` (2).
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
    /// The aggregator's optimiser on the aggregated update (``ServerOptimizerSpec``); nil: plain FedAvg.
    public var serverOptimizer: ServerOptimizerSpec?
    /// How updates are weighted in the mean (``Weighting``); nil: by samples.
    public var weighting: Weighting?
    /// Model selection on held-out cases at the nodes (``ModelSelectionSpec``); nil: none.
    public var modelSelection: ModelSelectionSpec?
    /// Patient-level differential privacy (`PrivacySpec.swift`); nil: none.
    public var privacy: PrivacySpec?

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
        /// Adam learning rate (at the first step of the schedule).
        public var learningRate: Double
        /// `cosine` or `constant` (``NN/LearningRateSchedule``).
        public var learningRateSchedule: String
        /// The cosine schedule's rate after the last round.
        public var finalLearningRate: Double
        /// Gradient L2 norm clip (0: none).
        public var gradientClipNorm: Double
        /// `soft` (ConDistFL), `hard` (teacher's argmax as labels) or `none`.
        public var distillation: String
        /// Softmax temperature of soft distillation.
        public var distillationTemperature: Double
        /// Weight of soft distillation at the first and the last round (linear in between).
        public var distillationWeight: [Double]
        /// Weight of the exclusion loss (0: off).
        public var exclusionWeight: Double
        /// Probability that a training patch is rotated, scaled and elastically deformed (``Imaging/Augmentation``).
        public var spatialAugmentation: Double
        /// Probability that a training patch is mirrored left-right (0: the body's side is a cue the model may use).
        public var mirrorLeftRight: Double
        /// Probability of flipping a training patch along each voxel axis (``TrainingRecipe/axisFlip``; 0: none).
        public var axisFlip: Double
        /// Share of patches centred on an annotated organ (``TrainingRecipe/positiveFraction``).
        public var positiveFraction: Double
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
        public var collusionTolerance: CollusionTolerance = .colludingClients
    }

    /// A federation file that cannot be used: the file and every problem found in it.
    public struct LoadError: Error, CustomStringConvertible {
        /// The file read.
        public var path: String
        /// Everything wrong with it (at least one).
        public var problems: [FederationProblem]
        /// One problem.
        public init(path: String, problem: FederationProblem) { self.path = path; problems = [problem] }
        /// Several problems.
        public init(path: String, problems: [FederationProblem]) { self.path = path; self.problems = problems }
        /// The problems as text, one per line.
        public var problem: String { problems.map(\.description).joined(separator: "\n") }
        public var description: String {
            problems.count == 1 ? "\(path): \(problems[0])"
                : "\(path): \(problems.count) problems:\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
        }
    }

    /// The organ names in label order (label 1, 2, ...).
    public var organNames: [String] {
        labels.compactMap { k, v in Int(k).flatMap { $0 > 0 ? ($0, v) : nil } }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// The node entry for `id`, if listed.
    public func node(_ id: String) -> NodeEntry? { nodes.first { $0.id == id } }

    /// Checks the file as `FederationValidator` checks one read from disk; throws every problem at once.
    public func validate() throws {
        let problems = FederationValidator.check(try canonicalTree(includingURL: true)).problems
        if !problems.isEmpty { throw LoadError(path: "federation", problems: problems) }
    }

    /// Reads and validates a federation file.
    public static func load(from path: String) throws -> FederationFile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw LoadError(path: path, problem: .notJSON(reason: "cannot read: \(error.localizedDescription)"))
        }
        return try decode(data, path: path)
    }

    /// Decodes and validates a federation file's bytes (the fuzzing entry point); absent optional fields take
    /// their defaults (`FederationSchema`).
    public static func decode(_ data: Data, path: String = "federation") throws -> FederationFile {
        let (file, problems) = FederationValidator.check(data)
        guard let file, problems.isEmpty else {
            throw LoadError(path: path, problems: problems.isEmpty ? [.notJSON(reason: "does not decode")] : problems)
        }
        return file
    }

    /// Encodes as pretty, key-sorted JSON (every field, defaults included).
    public func encoded() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try enc.encode(self) + Data("\n".utf8)
    }
}
