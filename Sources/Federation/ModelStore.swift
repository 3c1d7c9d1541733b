import Foundation
import NN
import Tensor

/// The aggregator's signed global models: `DIR/models/global-rNNNN.safetensors` with a detached minisign
/// signature beside each. Files are written to a temporary name and renamed, then signed, so a crash never
/// leaves a half-written model; the ledger decides which model is current.
public struct ModelStore: Sendable {
    /// The state directory.
    public let directory: String
    let federation: FederationFile

    /// Opens (creating) `directory/models`.
    public init(directory: String, federation: FederationFile) throws {
        self.directory = directory
        self.federation = federation
        do {
            try FileManager.default.createDirectory(atPath: modelsDirectory, withIntermediateDirectories: true)
        } catch {
            throw FederationError.file(path: modelsDirectory, problem: "cannot create: \(error.localizedDescription)")
        }
    }

    var modelsDirectory: String { URL(fileURLWithPath: directory).appendingPathComponent("models").path }

    /// Path of round `r`'s global model.
    public func path(round r: Int) -> String {
        URL(fileURLWithPath: modelsDirectory).appendingPathComponent(String(format: "global-r%04d.safetensors", r)).path
    }

    /// A fresh model as the federation file describes it.
    public func initialModel() -> FederatedModel {
        FederatedModel(strategy: federation.strategy, organs: federation.organNames, network: federation.network,
                       seed: federation.training.seed)
    }

    /// The latest global model according to the ledger (round 0's is created and signed on first start).
    /// Each file is verified against the aggregator key and the hash the ledger recorded.
    func latest(ledger records: [LedgerRecord], key: IdentityKey) throws -> (FederatedModel, Int, String) {
        let model = initialModel()
        guard let last = records.last(where: { $0.status == "completed" }) else {
            let p = path(round: 0)
            if FileManager.default.fileExists(atPath: p) {
                let (bytes, _) = try ModelSignature.verifyFile(path: p, publicKey: key.publicKey)
                try ModelArtifact.load(bytes: bytes, into: model, path: p)
                return (model, 0, hex(FedCrypto.blake2b256(bytes)))
            }
            let h = try write(model: model, round: 0, participants: [], previousModelHash: Ledger.genesisHash,
                              previousRecordHash: Ledger.genesisHash, key: key)
            return (model, 0, h)
        }
        let p = path(round: last.round)
        let (bytes, _) = try ModelSignature.verifyFile(path: p, publicKey: key.publicKey)
        let h = hex(FedCrypto.blake2b256(bytes))
        guard h == last.modelHash else {
            throw FederationError.file(path: p, problem: "hash \(h.prefix(16)) differs from the ledger's \(last.modelHash.prefix(16))")
        }
        try ModelArtifact.load(bytes: bytes, into: model, path: p)
        return (model, last.round, h)
    }

    /// Writes and signs round `r`'s model; returns the file's hex BLAKE2b-256.
    func write(model: FederatedModel, round r: Int, participants: [String], previousModelHash: String,
               previousRecordHash: String, key: IdentityKey) throws -> String {
        let bytes = ModelArtifact.encode(model: model, federation: federation, round: r, participants: participants,
                                         previousModelHash: previousModelHash, previousRecordHash: previousRecordHash)
        let p = path(round: r)
        try AtomicFile.write(path: p, contents: Data(bytes))
        let h = hex(FedCrypto.blake2b256(bytes))
        try ModelSignature.signFile(path: p, key: key,
                                    trustedComment: "segviz global model round=\(r) file_blake2b256=\(h)")
        return h
    }

    /// Round `r`'s model bytes and signature text.
    func files(round r: Int) throws -> (model: [UInt8], signature: String) {
        let p = path(round: r)
        let bytes = try ModelSignature.readBytes(p)
        let sig: String
        do { sig = try String(contentsOfFile: ModelSignature.signaturePath(for: p), encoding: .utf8) } catch {
            throw FederationError.file(path: ModelSignature.signaturePath(for: p), problem: "cannot read signature")
        }
        return (bytes, sig)
    }
}

/// The global model file: MONAI-named safetensors with a manifest in its metadata.
public enum ModelArtifact {
    /// The layout version in the manifest's `format`: 2 since networks see MONAI's (channel, i, j, k) axis order
    /// of the RAS grid (version 1 models were trained on (k, j, i) tensors and are refused).
    public static let formatValue = "segviz-global-model/2"
    /// The previous layout, refused with an explanation.
    public static let oldFormatValue = "segviz-global-model/1"

    /// Encodes a model with its manifest.
    public static func encode(model: FederatedModel, federation: FederationFile, round: Int, participants: [String],
                              previousModelHash: String, previousRecordHash: String) -> [UInt8] {
        let weights = model.values.withUnsafeBytes { [UInt8]($0) }
        let arch: [String: Any] = [
            "network": "monai.networks.nets.UNet", "spatial_dims": 3, "in_channels": model.config.inChannels,
            "out_channels": model.config.outChannels, "channels": model.config.channels,
            "strides": model.config.strides, "num_res_units": model.config.numResUnits,
            "norm": federation.network.norm, "strategy": model.strategy.rawValue, "organs": model.organs,
        ]
        let meta: [String: String] = [
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
        ]
        return model.safetensors(metadata: meta).encode()
    }

    /// Loads a model file's tensors into `model` (shapes checked).
    public static func load(bytes: [UInt8], into model: FederatedModel, path: String) throws {
        let f: SafetensorsFile
        do { f = try SafetensorsFile.decode(bytes, file: path) } catch {
            throw FederationError.file(path: path, problem: "\(error)")
        }
        try model.load(f, path: path)
    }

    static func json(_ v: Any) -> String {
        guard let d = try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .withoutEscapingSlashes]) else { return "null" }
        return String(decoding: d, as: UTF8.self)
    }
}
