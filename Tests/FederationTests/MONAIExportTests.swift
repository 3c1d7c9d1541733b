import Foundation
import Tensor
import Testing
@testable import Federation

/// Global models as MONAI sees them: the layout version is checked (an old-layout model is refused, not run with
/// the wrong axes), and `segviz export` writes state dicts whose names and shapes are MONAI's own.
@Suite struct MONAIExportTests {
    /// MONAI 1.6.1's state_dict of `UNet(3, 1, 3, (8, 16, 32), (2, 2), num_res_units=2, norm="instance")`:
    /// the weights of ../shared/fixtures/monai-interop/model.safetensors, written by MONAI.
    static func monaiStateDict() throws -> SafetensorsFile {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shared = ProcessInfo.processInfo.environment["SEGVIZ_SHARED"].map { URL(fileURLWithPath: $0) }
            ?? repo.deletingLastPathComponent().appendingPathComponent("shared")
        return try SafetensorsFile.read(path: shared.appendingPathComponent("fixtures/monai-interop/model.safetensors").path)
    }

    static let network = FederationFile.NetworkSpec(channels: [8, 16, 32], strides: [2, 2], numResUnits: 2, norm: "instance")

    @Test func singleModelStateDictHasMONAINamesAndShapes() throws {
        let monai = try Self.monaiStateDict()
        let m = FederatedModel(strategy: .single, organs: ["liver", "spleen"], network: Self.network, seed: 3)
        let ours = m.monaiStateDict(metadata: [:])
        #expect(Set(ours.tensors.keys) == Set(monai.tensors.keys))
        for (name, t) in monai.tensors { #expect(ours.tensors[name]?.shape == t.shape, "\(name)") }
    }

    @Test func headsModelExportsOneMONAINetworkPerOrgan() throws {
        let monai = try Self.monaiStateDict()
        let m = FederatedModel(strategy: .heads, organs: ["liver", "spleen"], network: Self.network, seed: 3)
        var heads: [String: [Float]] = [:]
        for organ in m.organs {
            let ours = m.monaiStateDict(organ: organ, metadata: [:])
            #expect(Set(ours.tensors.keys) == Set(monai.tensors.keys), "\(organ)")
            for (name, t) in monai.tensors {
                // a head is binary: MONAI's 3 output channels become 2 in the task head's tensors
                let want = name.hasPrefix("model.2.") ? t.shape.enumerated().map { $0.offset < 2 && $0.element == 3 ? 2 : $0.element } : t.shape
                #expect(ours.tensors[name]?.shape == want, "\(organ) \(name)")
            }
            guard case let .f32(_, v)? = ours.tensors["model.2.1.conv.unit0.conv.weight"] else { Issue.record("no head"); continue }
            heads[organ] = v
            // the core is shared, the head is the organ's own
            #expect(ours.tensors["model.0.conv.unit0.conv.weight"] == m.safetensors(metadata: [:]).tensors["model.0.conv.unit0.conv.weight"])
            #expect(ours.tensors["model.2.1.conv.unit0.conv.weight"] == m.safetensors(metadata: [:]).tensors["heads.\(organ).model.2.1.conv.unit0.conv.weight"])
        }
        #expect(heads["liver"] != heads["spleen"])
    }

    @Test func oldLayoutModelIsRefusedWithTheReason() throws {
        let dir = try temporaryDirectory()
        let f = try smallFederation(dir: dir, rounds: 1, port: 1)
        let key = try KeyFiles.loadSecretKey(path: dir + "/keys/aggregator.key")
        let store = try ModelStore(directory: dir + "/state", federation: f)
        _ = try store.latest(ledger: [], key: key)
        let path = store.path(round: 0)
        #expect(try VerifiedModel.open(path: path, publicKey: key.publicKey).manifest["format"] == "segviz-global-model/2")
        // the same model, re-signed, claiming the old (k, j, i) layout
        var file = try SafetensorsFile.read(path: path)
        file.metadata["format"] = "segviz-global-model/1"
        try file.write(path: path)
        _ = try ModelSignature.signFile(path: path, key: key, trustedComment: "old layout")
        let error = #expect(throws: FederationError.self) { try VerifiedModel.open(path: path, publicKey: key.publicKey) }
        guard case let .outdatedModel(p, format)? = error else { Issue.record("not outdatedModel: \(String(describing: error))"); return }
        #expect(p == path && format == "segviz-global-model/1")
        let r = try run([segvizExecutable(), "verify", "--model", path, "--federation", dir + "/keys/federation.json"])
        #expect(r.status != 0)
        #expect(r.output.contains("(k, j, i)"), "\(r.output)")
    }
}
