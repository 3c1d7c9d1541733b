import Foundation
import Tensor

/// A global model whose signature verified: only this type hands model bytes to inference.
public struct VerifiedModel: Sendable {
    /// The file path.
    public let path: String
    /// The safetensors content.
    public let file: SafetensorsFile
    /// The signature's trusted comment.
    public let trustedComment: String
    /// The manifest (safetensors metadata).
    public var manifest: [String: String] { file.metadata }

    /// Verifies `path` against `path.minisig` and `publicKey`, then parses it. Throws, naming the file and the
    /// reason, for a missing, malformed or mismatched signature, or any modified byte.
    public static func open(path: String, publicKey: Minisign.PublicKey) throws -> VerifiedModel {
        let (bytes, comment) = try ModelSignature.verifyFile(path: path, publicKey: publicKey)
        let f: SafetensorsFile
        do { f = try SafetensorsFile.decode(bytes, file: path) } catch {
            throw FederationError.file(path: path, problem: "\(error)")
        }
        if f.metadata["format"] == ModelArtifact.oldFormatValue {
            throw FederationError.outdatedModel(path: path, format: ModelArtifact.oldFormatValue)
        }
        guard f.metadata["format"] == ModelArtifact.formatValue else {
            throw FederationError.file(path: path, problem: "not a SegViz global model (metadata format is \(f.metadata["format"] ?? "missing"))")
        }
        return VerifiedModel(path: path, file: f, trustedComment: comment)
    }

    /// Rebuilds the federated model described by the manifest, with the file's weights.
    public func model() throws -> FederatedModel {
        guard let archText = manifest["architecture"],
              let arch = try? JSONSerialization.jsonObject(with: Data(archText.utf8)) as? [String: Any],
              let channels = arch["channels"] as? [Int], let strides = arch["strides"] as? [Int],
              let units = arch["num_res_units"] as? Int, let norm = arch["norm"] as? String,
              let strategyText = arch["strategy"] as? String, let strategy = FederationFile.Strategy(rawValue: strategyText),
              let organs = arch["organs"] as? [String] else {
            throw FederationError.file(path: path, problem: "manifest 'architecture' is missing or malformed")
        }
        var m = FederatedModel(strategy: strategy, organs: organs,
                               network: .init(channels: channels, strides: strides, numResUnits: units, norm: norm), seed: 0)
        try m.load(file, path: path)
        return m
    }
}
