// Fixtures shared by the fuzz targets, built once per process in a private temporary folder.
import Foundation
@testable import Federation
import Imaging
import NN
import SecureAggregation
import SegVizTesting

enum Fixtures {
    /// This process's scratch folder (removed by the fuzz script's cleanup of /tmp/segviz-fuzz-*).
    static let directory: URL = {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("segviz-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }()

    /// The shared real CT (SegVizTesting: `$SEGVIZ_SHARED/data`, else `shared/data` beside the repository).
    static var realCT: URL? {
        let u = SharedData.realCT
        return FileManager.default.fileExists(atPath: u.path) ? u : nil
    }

    /// Identity keys: the aggregator and three nodes, written as key files and read back.
    static let keys: (aggregator: IdentityKey, nodes: [IdentityKey]) = {
        let dir = directory.appendingPathComponent("keys").path
        func make(_ id: String) -> IdentityKey {
            _ = try! KeyFiles.generate(id: id, directory: dir)
            return try! KeyFiles.loadSecretKey(path: KeyFiles.paths(id: id, directory: dir).secretKey)
        }
        return (make("aggregator"), ["node-a", "node-b", "node-c"].map(make))
    }()

    /// A federation of the three nodes with a tiny U-Net (a few hundred parameters).
    static let federation: FederationFile = {
        let organs = [["liver"], ["spleen"], ["liver", "spleen"]]
        var f = FederationSetup.defaultFederation(
            name: "fuzz", aggregatorKey: keys.aggregator.publicKey, url: "http://127.0.0.1:1",
            nodes: zip(["node-a", "node-b", "node-c"], organs).enumerated().map { i, p in
                (FederationSetup.NodeSpec(id: p.0, organs: p.1), keys.nodes[i].publicKey)
            })
        f.network = .init(channels: [2, 4], strides: [2], numResUnits: 1, norm: "batch")
        return f
    }()

    /// A fresh model as the federation describes it.
    static func model() -> FederatedModel {
        FederatedModel(strategy: federation.strategy, organs: federation.organNames, network: federation.network,
                       seed: federation.training.seed)
    }

    /// The round-1 model artifact (signed by the aggregator), as a node downloads it.
    static let artifact: (bytes: [UInt8], signature: Minisign.Signature) = {
        let bytes = ModelArtifact.encode(model: model(), federation: federation, round: 1, participants: ["node-a"],
                                         previousModelHash: Ledger.genesisHash, previousRecordHash: Ledger.genesisHash)
        let sig = try! ModelSignature.sign(fileBytes: bytes, key: keys.aggregator,
                                           trustedComment: "segviz round 1 model \(hex(FedCrypto.blake2b256(bytes)))")
        return (bytes, sig)
    }()

    /// A small phantom data set (MSD layout: dataset.json, imagesTr, labelsTr, imagesTs) of 8^3 volumes.
    static let phantomDataset: URL = {
        let d = directory.appendingPathComponent("phantom")
        let w = PhantomDatasetWriter(generator: PhantomGenerator(dims: [8, 8, 8]), layout: .msd, annotate: .all, seed: 5)
        _ = try! w.write(to: d, cases: 2, testCases: 1)
        return d
    }()

    /// Runs `body` and waits for it (the fuzz callbacks are synchronous; actors are not).
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        Task {
            box.value = await body()
            done.signal()
        }
        done.wait()
        return box.value!
    }
}

/// Carries a result out of a task to the thread waiting for it.
final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}
