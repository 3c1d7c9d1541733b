/// What a trained segmentation model was trained on and how to feed it, stored in the
/// safetensors `__metadata__` beside the weights (keys `segviz.*`).
public struct ModelInfo: Sendable, Equatable {
    /// Organs the model was trained to segment (its site's annotated organs).
    public var organs: Set<Organ>
    /// The `--labels` mapping of the training data.
    public var labels: String
    /// Voxel size of the network's input in mm.
    public var spacing: SIMD3<Double>
    /// HU window of the input.
    public var window: HUWindow
    /// Training patch size along (i, j, k) of the RAS grid (the tensor's D, H, W, as MONAI), also the
    /// default inference window.
    public var patch: [Int]
    /// U-Net channels per level.
    public var channels: [Int]

    /// A description of a model.
    public init(organs: Set<Organ>, labels: String, spacing: SIMD3<Double>, window: HUWindow, patch: [Int], channels: [Int]) {
        self.organs = organs
        self.labels = labels
        self.spacing = spacing
        self.window = window
        self.patch = patch
        self.channels = channels
    }

    /// The layout version of `segviz train` models: 2 since network tensors follow MONAI's (i, j, k) axis order.
    public static let formatValue = "segviz-site-model/2"

    /// The metadata entries.
    public var metadata: [String: String] {
        ["segviz.format": Self.formatValue, "segviz.organs": organs.sorted().map(\.description).joined(separator: ","), "segviz.labels": labels,
         "segviz.spacing": "\(spacing.x),\(spacing.y),\(spacing.z)", "segviz.window": window.description,
         "segviz.patch": patch.map(String.init).joined(separator: ","), "segviz.channels": channels.map(String.init).joined(separator: ",")]
    }

    /// Reads the entries back; throws naming the first missing or malformed key.
    public init(metadata m: [String: String], file: String) throws(ModelInfoError) {
        func field(_ k: String) throws(ModelInfoError) -> String {
            guard let v = m[k] else { throw ModelInfoError(file: file, key: k) }
            return v
        }
        func ints(_ k: String) throws(ModelInfoError) -> [Int] {
            let v = try field(k).split(separator: ",").compactMap { Int($0) }
            guard !v.isEmpty else { throw ModelInfoError(file: file, key: k) }
            return v
        }
        guard m["segviz.format"] == Self.formatValue else {
            throw ModelInfoError(file: file, key: "segviz.format",
                                 reason: m["segviz.format"].map { "layout \($0) is not \(Self.formatValue)" }
                                     ?? "no layout version: a model from before segviz fed networks MONAI's (i, j, k) axis order; its weights would run on transposed volumes, retrain it")
        }
        let organs = try field("segviz.organs").split(separator: ",").compactMap { Organ(name: String($0)) }
        let sp = try field("segviz.spacing").split(separator: ",").compactMap { Double($0) }
        guard !organs.isEmpty else { throw ModelInfoError(file: file, key: "segviz.organs") }
        guard sp.count == 3 else { throw ModelInfoError(file: file, key: "segviz.spacing") }
        guard let w = HUWindow(parsing: try field("segviz.window")) else { throw ModelInfoError(file: file, key: "segviz.window") }
        self.init(organs: Set(organs), labels: try field("segviz.labels"), spacing: SIMD3(sp[0], sp[1], sp[2]), window: w,
                  patch: try ints("segviz.patch"), channels: try ints("segviz.channels"))
    }
}

/// A model file's metadata lacks a `segviz.*` key or holds a malformed value.
public struct ModelInfoError: Error, Equatable, CustomStringConvertible {
    /// The model file.
    public var file: String
    /// The metadata key at fault.
    public var key: String
    /// Why, when more is known than "missing or malformed".
    public var reason: String?

    /// An error naming the file, the key and, optionally, why.
    public init(file: String, key: String, reason: String? = nil) {
        self.file = file
        self.key = key
        self.reason = reason
    }

    public var description: String {
        "\(file): metadata \(key) " + (reason ?? "missing or malformed (not a segviz train model?)")
    }
}
