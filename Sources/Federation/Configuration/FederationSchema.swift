import Foundation
import Imaging

/// The federation file's fields, types, limits and defaults: one table from which `segviz`'s validator
/// checks a file and `federation.schema.json` (JSON Schema draft 2020-12) is generated, so the two cannot drift.
public enum FederationSchema {
    /// The file version this build reads and writes.
    public static let version = 2

    /// A field's JSON type and the limits JSON Schema can state.
    public indirect enum Kind: Sendable {
        /// A string, optionally one of `allowed`, matching `pattern` (ECMA-262, anchored), at least `minLength`.
        case string(allowed: [String]?, pattern: String?, minLength: Int)
        /// An integer within `min...max`.
        case integer(min: Int?, max: Int?)
        /// A number above `exclusiveMin` (or at least `min`) and at most `max`.
        case number(exclusiveMin: Double?, min: Double?, max: Double?)
        /// true or false.
        case boolean
        /// An array of `items`, `minItems...maxItems` long.
        case array(Kind, minItems: Int?, maxItems: Int?)
        /// An object with exactly these fields.
        case object([Field])
        /// An object whose keys match `keyPattern` and whose values are `values`.
        case map(Kind, keyPattern: String)
        /// The kind or null.
        case nullable(Kind)
    }

    /// One field of an object.
    public struct Field: Sendable {
        /// The JSON member name.
        public var name: String
        /// Its type and limits.
        public var kind: Kind
        /// Required (no default).
        public var required: Bool
        /// The value used when the field is absent (optional fields only; nil: absent means none).
        public var defaultValue: JSONValue?
        /// What it means (the schema's `description`).
        public var doc: String
    }

    static let identifier = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
    static func str(_ allowed: [String]? = nil, pattern: String? = nil, minLength: Int = 1) -> Kind {
        .string(allowed: allowed, pattern: pattern, minLength: minLength)
    }
    static func req(_ n: String, _ k: Kind, _ doc: String) -> Field { Field(name: n, kind: k, required: true, defaultValue: nil, doc: doc) }
    static func opt(_ n: String, _ k: Kind, _ d: JSONValue?, _ doc: String) -> Field {
        Field(name: n, kind: k, required: false, defaultValue: d, doc: doc)
    }
    /// A Float as the shortest decimal that reads back as it (2e-5, not 1.9999999494757503e-05).
    static func decimal(_ f: Float) -> Double { Double("\(f)") ?? Double(f) }
    static func nums(_ a: [Double]) -> JSONValue { .array(a.map { .number($0) }) }

    /// The whole file.
    public static let root: Kind = .object([
        req("version", .integer(min: version, max: version), "File format version; this build reads \(version) (`segviz federation upgrade` converts version 1)."),
        req("name", str(), "A name for logs and the status page."),
        req("aggregator", .object([
            opt("id", str(pattern: identifier), .string("aggregator"), "The aggregator's identity name (its key files are ID.key / ID.pub)."),
            req("publicKey", str(), "The aggregator's minisign public key (the base64 line of ID.pub)."),
            req("url", str(pattern: "^https?://[^/?#\\s]+/?$"), "Base URL nodes connect to, e.g. http://aggregator.example:8750; not part of the fingerprint."),
            opt("tlsCertificate", .nullable(str(pattern: "-----BEGIN CERTIFICATE-----")), nil,
                "The aggregator's certificate (PEM), pinned by nodes; required with an https URL."),
        ]), "The aggregator's identity and where nodes reach it."),
        opt("labels", .map(str(), keyPattern: "^(0|[1-9][0-9]{0,2})$"),
            .object(["0": .string("background"), "1": .string("liver"), "2": .string("spleen")]),
            "Federation label numbers to organ names; 0 is background."),
        req("nodes", .array(.object([
            req("id", str(pattern: identifier), "The node's id (its key files are ID.key / ID.pub)."),
            req("publicKey", str(), "The node's minisign public key (the base64 line of ID.pub)."),
            req("organs", .array(str(), minItems: 1, maxItems: nil), "Organ names the node's labels annotate."),
        ]), minItems: 2, maxItems: 1000), "The participating nodes (at least 2: secure aggregation needs a crowd)."),
        opt("network", .object([
            opt("channels", .array(.integer(min: 1, max: 1024), minItems: 2, maxItems: 8), nums([8, 16, 32, 64]), "Channels per level (MONAI UNet)."),
            opt("strides", .array(.integer(min: 1, max: 2), minItems: 1, maxItems: 7), nums([2, 2, 2]), "Strides between levels: one fewer than channels."),
            opt("numResUnits", .integer(min: 0, max: 8), .number(2), "Residual units per level."),
            opt("norm", str(["batch", "instance"]), .string("instance"), "Normalisation layer (instance: MONAI's InstanceNorm3d without affine; batch: FedBN needs it)."),
        ]), .object([:]), "The U-Net every participant trains (MONAI UNet arguments)."),
        opt("strategy", str(["single", "heads"]), .string("single"),
            "single: one multi-class model, marginal loss; heads: shared core, one task head per organ (SegViz)."),
        opt("localPatterns", .array(str(), minItems: nil, maxItems: nil), .array([]),
            "State-dict name substrings kept local at each node (FedBN: [\".adn.N.\"])."),
        opt("rounds", .integer(min: 1, max: 10000), .number(3), "Federated rounds."),
        opt("localEpochs", .integer(min: 1, max: 1000), .number(2), "Local training epochs per round."),
        opt("training", .object([
            opt("patch", .array(.integer(min: 8, max: 512), minItems: 3, maxItems: 3), nums([32, 48, 48]),
                "Patch (i, j, k) in voxels; each divisible by the product of the strides."),
            opt("patchesPerVolume", .integer(min: 1, max: 256), .number(4), "Patches per volume per epoch."),
            opt("learningRate", .number(exclusiveMin: 0, min: nil, max: 1), .number(0.002), "Adam learning rate (at the first step)."),
            opt("learningRateSchedule", str(["cosine", "constant"]), .string(TrainingRecipe.defaults.schedule.rawValue),
                "cosine: from learningRate to finalLearningRate over every local step of every round; constant: learningRate throughout."),
            opt("finalLearningRate", .number(exclusiveMin: nil, min: 0, max: 1), .number(decimal(TrainingRecipe.defaults.finalLearningRate)), "The cosine schedule's rate after the last round."),
            opt("gradientClipNorm", .number(exclusiveMin: nil, min: 0, max: 1e6), .number(decimal(TrainingRecipe.defaults.gradientClipNorm ?? 0)),
                "Gradients are scaled to this L2 norm when larger (0: no clipping)."),
            opt("distillation", str(["soft", "hard", "none"]), .string(TrainingRecipe.defaults.distillation.rawValue),
                "soft: ConDistFL conditional distillation from the round's global model; hard: its argmax fills the labels of organs a node does not annotate; none: the marginal loss alone."),
            opt("distillationTemperature", .number(exclusiveMin: 0, min: nil, max: 100), .number(TrainingRecipe.defaults.temperature), "Softmax temperature of soft distillation."),
            opt("distillationWeight", .array(.number(exclusiveMin: nil, min: 0, max: 100), minItems: 2, maxItems: 2), nums([TrainingRecipe.defaults.distillationWeight.first, TrainingRecipe.defaults.distillationWeight.last]),
                "Weight of soft distillation at the first and the last round (linear in between)."),
            opt("exclusionWeight", .number(exclusiveMin: nil, min: 0, max: 100), .number(TrainingRecipe.defaults.exclusionWeight),
                "Weight of the exclusion loss (Shi et al. 2021) on organs a node does not annotate (0: off)."),
            opt("spatialAugmentation", .number(exclusiveMin: nil, min: 0, max: 1), .number(Augmentation.standard.spatialProbability),
                "Probability that a training patch is rotated, scaled and elastically deformed (intensity changes apply regardless)."),
            opt("mirrorLeftRight", .number(exclusiveMin: nil, min: 0, max: 1), .number(Augmentation.standard.mirrorLeftRight),
                "Probability that a training patch is mirrored left-right: 0 (the default) keeps the side of the body as a cue; at 0.5 it carries no information (a scan whose header mirrors left and right is still segmented, at a price in Dice)."),
            opt("axisFlip", .number(exclusiveMin: nil, min: 0, max: 1), .number(TrainingRecipe.defaults.axisFlip),
                "Probability of flipping a training patch along each voxel axis in turn (MONAI's RandFlipd per axis); 0: never, so the organs keep their places."),
            opt("positiveFraction", .number(exclusiveMin: nil, min: 0, max: 1), .number(TrainingRecipe.defaults.positiveFraction),
                "Share of a case's patches centred on an annotated organ; the rest centre on random voxels inside the body (MONAI's RandCropByPosNegLabeld)."),
            opt("spacing", .array(.number(exclusiveMin: 0, min: nil, max: 100), minItems: 3, maxItems: 3), nums([3, 3, 3]),
                "Target voxel spacing (x, y, z) in mm."),
            opt("window", .array(.number(exclusiveMin: nil, min: -10000, max: 100000), minItems: 2, maxItems: 2), nums([-175, 250]),
                "HU window [low, high] mapped to 0..1 (low < high)."),
            opt("seed", .integer(min: 0, max: 9_007_199_254_740_991), .number(2024), "Base seed."),
        ]), .object([:]), "Local training settings."),
        opt("secureAggregation", .object([
            opt("threshold", .integer(min: 2, max: 1000), nil,
                "Shamir threshold; default floor(2h/3)+1 of h share holders (nodes, or neighbours+1)."),
            opt("collusionTolerance", str(["colludingClients", "none"]), .string("colludingClients"),
                "colludingClients: threshold >= floor(2h/3)+1; none: an explicit weaker choice, threshold > h/2."),
            opt("clip", .number(exclusiveMin: 0, min: nil, max: 1e6), .number(0.5),
                "Updates are clipped to [-clip, clip] (0.5 covers the recipe's instance-norm updates; batch norm's running statistics need far more)."),
            opt("neighbours", .nullable(.integer(min: 2, max: 254)), nil, "SecAgg+ neighbourhood size; null: every pair masks."),
            opt("allowSingleContributorBlocks", .boolean, .bool(false),
                "Allow a block (an organ's head) with one contributor, which discloses that node's values."),
        ]), .object([:]), "Secure aggregation settings."),
        opt("phaseTimeoutSeconds", .number(exclusiveMin: 0, min: nil, max: 86400), .number(30),
            "Seconds per protocol phase before silent nodes count as dropped."),
        opt("trainingTimeoutSeconds", .number(exclusiveMin: 0, min: nil, max: 604800), .number(600),
            "Seconds for nodes to train and advertise keys at the start of a round."),
        serverOptimizerField,
        weightingField,
        modelSelectionField,
        privacyField,
    ])

    /// `tree` with every absent optional field given its default (objects recursively).
    public static func filled(_ tree: JSONValue, _ kind: Kind = root) -> JSONValue {
        switch (kind, tree) {
        case (.object(let fields), .object(var members)):
            for f in fields {
                if let v = members[f.name] { members[f.name] = filled(v, f.kind) }
                else if let d = f.defaultValue { members[f.name] = filled(d, f.kind) }
            }
            return .object(members)
        case (.array(let item, _, _), .array(let items)):
            return .array(items.map { filled($0, item) })
        default:
            return tree
        }
    }

    /// The JSON Schema (draft 2020-12) of the file, as committed in `federation.schema.json`.
    public static func jsonSchema() -> JSONValue {
        guard case .object(var o) = schema(root, doc: nil) else { return .null }
        o["$schema"] = .string("https://json-schema.org/draft/2020-12/schema")
        o["$id"] = .string("https://segviz.example/federation.schema.json")
        o["title"] = .string("SegViz federation file, version \(version)")
        o["description"] = .string("Checked by `segviz federation check`; value relations (patch vs strides, window order, threshold vs nodes, organs vs labels, keys) are checked by segviz only.")
        return .object(o)
    }

    /// `jsonSchema()` as pretty JSON text with sorted keys.
    public static func jsonSchemaText() -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? e.encode(jsonSchema())) ?? Data(), as: UTF8.self)
    }

    static func schema(_ k: Kind, doc: String?, defaultValue: JSONValue? = nil) -> JSONValue {
        var o: [String: JSONValue] = [:]
        switch k {
        case let .string(allowed, pattern, minLength):
            o["type"] = .string("string")
            if let allowed { o["enum"] = .array(allowed.map { .string($0) }) }
            if let pattern { o["pattern"] = .string(pattern) }
            if minLength > 0 { o["minLength"] = .number(Double(minLength)) }
        case let .integer(min, max):
            o["type"] = .string("integer")
            if let min { o["minimum"] = .number(Double(min)) }
            if let max { o["maximum"] = .number(Double(max)) }
        case let .number(exclusiveMin, min, max):
            o["type"] = .string("number")
            if let exclusiveMin { o["exclusiveMinimum"] = .number(exclusiveMin) }
            if let min { o["minimum"] = .number(min) }
            if let max { o["maximum"] = .number(max) }
        case .boolean:
            o["type"] = .string("boolean")
        case let .array(item, minItems, maxItems):
            o["type"] = .string("array")
            o["items"] = schema(item, doc: nil)
            if let minItems { o["minItems"] = .number(Double(minItems)) }
            if let maxItems { o["maxItems"] = .number(Double(maxItems)) }
        case .object(let fields):
            o["type"] = .string("object")
            o["additionalProperties"] = .bool(false)
            o["properties"] = .object(Dictionary(uniqueKeysWithValues: fields.map {
                ($0.name, schema($0.kind, doc: $0.doc, defaultValue: $0.defaultValue))
            }))
            let req = fields.filter(\.required).map { JSONValue.string($0.name) }
            if !req.isEmpty { o["required"] = .array(req) }
        case let .map(values, keyPattern):
            o["type"] = .string("object")
            o["propertyNames"] = .object(["pattern": .string(keyPattern)])
            o["additionalProperties"] = schema(values, doc: nil)
        case .nullable(let inner):
            guard case .object(var io) = schema(inner, doc: nil), case .string(let t)? = io["type"] else { return .null }
            io["type"] = .array([.string(t), .string("null")])
            if io["enum"] != nil { io["enum"] = nil }
            o = io
        }
        if let doc { o["description"] = .string(doc) }
        if let defaultValue { o["default"] = defaultValue }
        return .object(o)
    }
}
