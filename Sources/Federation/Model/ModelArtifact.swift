import Foundation
import NN
import Tensor

/// The global model file: MONAI-named safetensors with a manifest in its metadata.
public enum ModelArtifact {
    /// The layout version in the manifest's `format`: 2 since networks see MONAI's (channel, i, j, k) axis order
    /// of the RAS grid (version 1 models were trained on (k, j, i) tensors and are refused).
    public static let formatValue = "segviz-global-model/2"
    /// The previous layout, refused with an explanation.
    public static let oldFormatValue = "segviz-global-model/1"

    /// Encodes a model with its manifest. With `privacy` (a federation with a budget) the manifest's `privacy` key
    /// holds the budget and the privacy attestations of the nodes whose updates are in the model.
    public static func encode(model: FederatedModel, federation: FederationFile, round: Int, participants: [String],
                              previousModelHash: String, previousRecordHash: String, privacy: RoundPrivacy? = nil) -> [UInt8] {
        let weights = model.values.withUnsafeBytes { [UInt8]($0) }
        let arch: [String: Any] = [
            "network": "monai.networks.nets.UNet", "spatial_dims": 3, "in_channels": model.config.inChannels,
            "out_channels": model.config.outChannels, "channels": model.config.channels,
            "strides": model.config.strides, "num_res_units": model.config.numResUnits,
            "norm": federation.network.norm, "strategy": model.strategy.rawValue, "organs": model.organs,
        ]
        var meta: [String: String] = [
            "format": formatValue,
            "architecture": json(arch),
            "labels": json(federation.labels),
            "federation": federation.name,
            "round": String(round),
            "participants": json(participants),
            "weights_blake2b256": hex(FedCrypto.blake2b256(weights)),
            "previous_model_blake2b256": previousModelHash,
            "previous_ledger_record_hash": previousRecordHash,
            "spacing": json(federation.training.spacing),
            "window": json(federation.training.window),
            "patch": json(federation.training.patch),
            "server_optimizer": federation.effectiveServerOptimizer.manifestText,
        ]
        if let privacy { meta["privacy"] = privacy.manifestText }
        if let weighting = federation.weighting { meta["weighting"] = weighting.rawValue }
        return model.safetensors(metadata: meta).encode()
    }

    /// Loads a model file's tensors into `model` (shapes checked).
    public static func load(bytes: [UInt8], into model: inout FederatedModel, path: String) throws {
        let f: SafetensorsFile
        do { f = try SafetensorsFile.decode(bytes, file: path) } catch {
            throw FederationError.unreadableModel(path: path, problem: error)
        }
        try model.load(f, path: path)
    }

    static func json(_ v: Any) -> String {
        guard let d = try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .withoutEscapingSlashes]) else { return "null" }
        return String(decoding: d, as: UTF8.self)
    }
}
