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
            throw FederationError.cannotCreateFolder(path: modelsDirectory, reason: error.localizedDescription)
        }
    }

    var modelsDirectory: String { Self.modelsDirectory(stateDirectory: directory) }

    /// The folder of the global models in an aggregator's state directory.
    public static func modelsDirectory(stateDirectory: String) -> String {
        URL(fileURLWithPath: stateDirectory).appendingPathComponent("models").path
    }

    /// The one place that names model files: round `r`'s global model is `global-rNNNN.safetensors`.
    public static func fileName(round r: Int) -> String { String(format: "global-r%04d.safetensors", r) }

    /// Path of round `r`'s global model in the aggregator state directory `stateDirectory`.
    public static func path(stateDirectory: String, round r: Int) -> String {
        URL(fileURLWithPath: modelsDirectory(stateDirectory: stateDirectory)).appendingPathComponent(fileName(round: r)).path
    }

    /// Path of round `r`'s global model.
    public func path(round r: Int) -> String { Self.path(stateDirectory: directory, round: r) }

    /// A fresh model as the federation file describes it.
    public func initialModel() -> FederatedModel {
        FederatedModel(strategy: federation.strategy, organs: federation.organNames, network: federation.network,
                       seed: federation.training.seed)
    }

    /// The latest global model according to the ledger (round 0's is created and signed on first start).
    /// Each file is verified against the aggregator key and the hash the ledger recorded.
    func latest(ledger records: [LedgerRecord], key: IdentityKey) throws -> StoredModel {
        var model = initialModel()
        guard let last = records.last(where: { $0.status == .completed }) else {
            let p = path(round: 0)
            if FileManager.default.fileExists(atPath: p) {
                let (bytes, _) = try ModelSignature.verifyFile(path: p, publicKey: key.publicKey)
                try ModelArtifact.load(bytes: bytes, into: &model, path: p)
                return StoredModel(model: model, round: 0, hash: hex(FedCrypto.blake2b256(bytes)))
            }
            let h = try write(model: model, round: 0, participants: [], previousModelHash: Ledger.genesisHash,
                              previousRecordHash: Ledger.genesisHash,
                              privacy: federation.privacy.map { RoundPrivacy($0, attestations: []) }, key: key)
            return StoredModel(model: model, round: 0, hash: h)
        }
        let p = path(round: last.round)
        let (bytes, _) = try ModelSignature.verifyFile(path: p, publicKey: key.publicKey)
        let h = hex(FedCrypto.blake2b256(bytes))
        guard h == last.modelHash else {
            throw FederationError.modelHashMismatch(path: p, hash: String(h.prefix(16)), ledger: String(last.modelHash.prefix(16)))
        }
        try ModelArtifact.load(bytes: bytes, into: &model, path: p)
        return StoredModel(model: model, round: last.round, hash: h)
    }

    /// What is wrong with each completed round's model file in `stateDirectory`: missing, its signature by the
    /// aggregator `key` does not verify, or it does not hash to the ledger's value. Empty when all verify.
    public static func problems(stateDirectory: String, records: [LedgerRecord], key: Minisign.PublicKey) -> [(round: Int, path: String, problem: String)] {
        var out: [(round: Int, path: String, problem: String)] = []
        for r in records where r.status == .completed {
            let p = path(stateDirectory: stateDirectory, round: r.round)
            let bytes: [UInt8]
            do { (bytes, _) = try ModelSignature.verifyFile(path: p, publicKey: key) } catch {
                out.append((r.round, p, "does not verify: \(error)"))
                continue
            }
            let h = hex(FedCrypto.blake2b256(bytes))
            if h != r.modelHash {
                out.append((r.round, p, "hashes to \(h.prefix(16)), not the ledger's \(r.modelHash.prefix(16)) (replaced or changed)"))
            }
        }
        return out
    }

    /// Throws naming the first completed round whose model file does not match the ledger (see ``problems``).
    func verifyAll(ledger records: [LedgerRecord], key: IdentityKey) throws {
        if let p = Self.problems(stateDirectory: directory, records: records, key: key.publicKey).first {
            throw FederationError.storedModelMismatch(path: p.path, round: p.round, problem: "\(p.problem)")
        }
    }

    /// Writes and signs round `r`'s model (its manifest carrying `privacy`, if any); returns the file's hex BLAKE2b-256.
    func write(model: FederatedModel, round r: Int, participants: [String], previousModelHash: String,
               previousRecordHash: String, privacy: RoundPrivacy? = nil, key: IdentityKey) throws -> String {
        let bytes = ModelArtifact.encode(model: model, federation: federation, round: r, participants: participants,
                                         previousModelHash: previousModelHash, previousRecordHash: previousRecordHash,
                                         privacy: privacy)
        let p = path(round: r)
        try AtomicFile.write(path: p, contents: Data(bytes))
        let h = hex(FedCrypto.blake2b256(bytes))
        try ModelSignature.signFile(path: p, key: key,
                                    trustedComment: RoundContext.trustedComment(modelRound: r, hashHex: h))
        return h
    }

    /// Round `r`'s model bytes and signature text.
    func files(round r: Int) throws -> SignedModelFile {
        let p = path(round: r)
        let bytes = try ModelSignature.readBytes(p)
        let sig: String
        do { sig = try String(contentsOfFile: ModelSignature.signaturePath(for: p), encoding: .utf8) } catch {
            throw FederationError.unreadable(path: ModelSignature.signaturePath(for: p), kind: .signature, reason: error.localizedDescription)
        }
        return SignedModelFile(bytes: bytes, signature: sig)
    }
}
