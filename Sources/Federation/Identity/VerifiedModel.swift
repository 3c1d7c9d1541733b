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
            throw FederationError.unreadableModel(path: path, problem: error)
        }
        if f.metadata["format"] == ModelArtifact.oldFormatValue {
            throw FederationError.outdatedModel(path: path, format: ModelArtifact.oldFormatValue)
        }
        guard f.metadata["format"] == ModelArtifact.formatValue else {
            throw FederationError.notAGlobalModel(path: path, format: f.metadata["format"])
        }
        return VerifiedModel(path: path, file: f, trustedComment: comment)
    }

    /// Rebuilds the federated model described by the manifest, with the file's weights; a missing or malformed
    /// manifest key is named (`architecture`, `architecture.channels`...).
    public func model() throws -> FederatedModel {
        let a = try ManifestArchitecture(manifest, path: path)
        let (channels, strides, units, norm, strategy, organs) = (a.channels, a.strides, a.numResUnits, a.norm, a.strategy, a.organs)
        var m = FederatedModel(strategy: strategy, organs: organs,
                               network: .init(channels: channels, strides: strides, numResUnits: units, norm: norm), seed: 0)
        try m.load(file, path: path)
        return m
    }
}

/// The `architecture` key of a model manifest (JSON), each of its keys checked and named when missing or malformed.
struct ManifestArchitecture {
    let channels: [Int], strides: [Int], numResUnits: Int, norm: String
    let strategy: FederationFile.Strategy, organs: [String]

    init(_ manifest: [String: String], path: String) throws(FederationError) {
        guard let text = manifest["architecture"],
              let arch = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw .manifestKey(path: path, key: "architecture", expected: "a JSON object")
        }
        func value<T>(_ key: String, _ expected: String) throws(FederationError) -> T {
            guard let v = arch[key] as? T else { throw .manifestKey(path: path, key: "architecture.\(key)", expected: expected) }
            return v
        }
        channels = try value("channels", "a list of integers")
        strides = try value("strides", "a list of integers")
        numResUnits = try value("num_res_units", "an integer")
        norm = try value("norm", "a string")
        let strategyText: String = try value("strategy", "single or heads")
        guard let strategy = FederationFile.Strategy(rawValue: strategyText) else {
            throw .manifestKey(path: path, key: "architecture.strategy", expected: "single or heads")
        }
        self.strategy = strategy
        organs = try value("organs", "a list of organ names")
    }
}
