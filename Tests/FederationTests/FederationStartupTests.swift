import Foundation
import Testing
@testable import Federation

/// The failures, end to end through the `segviz` binary: `federation check`, the aggregator and a node
/// each refuse a bad file at start (exit 1, the field named, nothing created), `init` writes a usable file,
/// and a node whose file differs from the aggregator's is refused with both fingerprints and the field.
@Suite(.serialized, .timeLimit(.minutes(5))) struct FederationStartupTests {
    /// Keys and a valid federation file in a fresh folder; returns the folder.
    static func federationFolder(nodes: [(String, [String])] = [("liver-a", ["liver"]), ("spleen-b", ["spleen"])]) throws -> String {
        let dir = try temporaryDirectory()
        try FederationSetup.create(keysDirectory: dir + "/keys", name: "startup", url: "http://127.0.0.1:\(freePort())",
                                   nodes: nodes.map { .init(id: $0.0, organs: $0.1) })
        return dir
    }

    /// Writes the folder's federation file with `changes` to `name`.
    static func variant(_ dir: String, _ name: String, _ changes: [(String, Any?)]) throws -> String {
        var t = FederationText()
        t.tree = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/keys/federation.json"))) as! [String: Any]
        for (p, v) in changes { t.set(p, v) }
        let path = "\(dir)/keys/\(name)"
        try t.data.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Each failure of the issue, and the field the refusal must name.
    static var failures: [(String, [(String, Any?)], String)] { [
        ("missing-name", [("name", nil)], "name: required field is missing"),
        ("roundz", [("roundz", 4)], "did you mean 'rounds'"),
        ("multi", [("strategy", "multi")], "allowed values: single, heads"),
        ("patch-30", [("training.patch", [30, 48, 48])], "training.patch"),
        ("spacing-0", [("training.spacing", [0, 3, 3])], "training.spacing.0"),
        ("window", [("training.window", [250, -175])], "training.window"),
        ("lr", [("training.learningRate", -0.002)], "training.learningRate"),
        ("version-1", [("version", 1)], "segviz federation upgrade"),
    ] }

    @Test(.timeLimit(.minutes(5))) func aggregatorNodeAndCheckRefuseEachFailureBeforeCreatingAnything() throws {
        let dir = try Self.federationFolder()
        for (name, changes, expected) in Self.failures {
            let bad = try Self.variant(dir, "\(name).json", changes)
            let check = try run([segvizExecutable(), "federation", "check", bad])
            #expect(check.status == 1 && check.output.contains(expected), "check \(name): \(check.output)")
            let state = "\(dir)/state-\(name)"
            let agg = try run([segvizExecutable(), "aggregator", "--federation", bad, "--state", state])
            #expect(agg.status == 1 && agg.output.contains(expected), "aggregator \(name): \(agg.output)")
            #expect(!FileManager.default.fileExists(atPath: state), "aggregator \(name) created its state folder")
            let node = try run([segvizExecutable(), "node", "--federation", bad, "--id", "liver-a", "--key", "\(dir)/keys/liver-a.key",
                                "--dataset", "\(dir)/no-such-data", "--labels", "msd-liver"])
            #expect(node.status == 1 && node.output.contains(expected), "node \(name): \(node.output)")
        }
        let good = try run([segvizExecutable(), "federation", "check", "\(dir)/keys/federation.json"])
        let fingerprint = try FederationFile.load(from: "\(dir)/keys/federation.json").fingerprint
        #expect(good.status == 0 && good.output.contains("fingerprint: \(fingerprint)"), "\(good.output)")
    }

    /// Heads with one spleen site: refused at start naming secureAggregation.allowSingleContributorBlocks (the
    /// old hint named allowSmallBlocks, which the file does not have).
    @Test func singleContributorHintNamesTheRealField() throws {
        let dir = try Self.federationFolder(nodes: [("liver-a", ["liver"]), ("liver-c", ["liver"]), ("spleen-b", ["spleen"])])
        let bad = try Self.variant(dir, "heads.json", [("strategy", "heads")])
        let r = try run([segvizExecutable(), "federation", "check", bad])
        #expect(r.status == 1 && r.output.contains("secureAggregation.allowSingleContributorBlocks") && !r.output.contains("allowSmallBlocks"), "\(r.output)")
        let ok = try Self.variant(dir, "heads-allowed.json", [("strategy", "heads"), ("secureAggregation.allowSingleContributorBlocks", true)])
        #expect(try run([segvizExecutable(), "federation", "check", ok]).status == 0)
    }

    @Test func upgradeConvertsAVersion1File() throws {
        let dir = try Self.federationFolder()
        let old = try Self.variant(dir, "old.json", [("version", 1)])
        let r = try run([segvizExecutable(), "federation", "upgrade", old])
        #expect(r.status == 0, "\(r.output)")
        #expect(try FederationFile.load(from: old).fingerprint == FederationFile.load(from: "\(dir)/keys/federation.json").fingerprint)
    }

    @Test func initWritesACompleteCheckedFileAndNothingOnError() throws {
        let dir = try temporaryDirectory()
        for id in ["aggregator", "liver-hospital", "spleen-hospital"] { _ = try KeyFiles.generate(id: id, directory: dir + "/keys") }
        let base = [segvizExecutable(), "init", "--keys", dir + "/keys", "--name", "n", "--aggregator-url", "http://127.0.0.1:9"]
        let missing = try run(base + ["--node", "liver-hospital=liver"])
        #expect(missing.status == 1 && missing.output.contains("spleen-hospital"), "\(missing.output)")
        let badOrgan = try run(base + ["--node", "liver-hospital=liver", "--node", "spleen-hospital=kidney"])
        #expect(badOrgan.status == 1 && badOrgan.output.contains("unknown organ 'kidney'"), "\(badOrgan.output)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/keys/federation.json"))
        let ok = try run(base + ["--node", "liver-hospital=liver", "--node", "spleen-hospital=spleen", "--strategy", "heads"])
        #expect(ok.status == 1 && ok.output.contains("allowSingleContributorBlocks"), "one site per organ with heads: \(ok.output)")
        let single = try run(base + ["--node", "liver-hospital=liver", "--node", "spleen-hospital=spleen"])
        #expect(single.status == 0, "\(single.output)")
        let text = try String(contentsOfFile: dir + "/keys/federation.json", encoding: .utf8)
        for field in ["phaseTimeoutSeconds", "collusionTolerance", "learningRate", "window", "allowSingleContributorBlocks", "labels"] {
            #expect(text.contains("\"\(field)\""), "generated file lacks \(field)")
        }
        #expect(try FederationFile.load(from: dir + "/keys/federation.json").nodes.map(\.id) == ["liver-hospital", "spleen-hospital"])
        #expect(try run(base + ["--node", "liver-hospital=liver", "--node", "spleen-hospital=spleen"]).status == 1)  // exists
    }

    /// The silent divergence: a node whose copy says 7 local epochs and learning rate 0.05 joined and
    /// trained. Now it is refused before training, naming both fingerprints and the first differing field.
    @Test(.timeLimit(.minutes(5))) func nodeWithADifferentFileIsRefused() async throws {
        let fed = try ProcessFederation(rounds: 1)
        let agg = try fed.startAggregator()
        defer { agg.kill9() }
        let other = try Self.variant(fed.dir, "other.json", [("localEpochs", 7), ("training.learningRate", 0.05)])
        let node = try Child(["node", "--federation", other, "--id", "liver-a", "--key", "\(fed.dir)/keys/liver-a.key",
                              "--dataset", "\(fed.dir)/sites/liver-a", "--labels", fed.mappings["liver-a"]!, "--threads", "1"],
                             log: "\(fed.dir)/mismatch.log")
        let status = await node.wait(seconds: 120)
        node.kill9()
        let mine = try FederationFile.load(from: other).fingerprint, theirs = fed.federation.fingerprint
        #expect(status == 1, "\(node.output)")
        #expect(node.output.contains(mine) && node.output.contains(theirs), "\(node.output)")
        #expect(node.output.contains("first differing field: localEpochs"), "\(node.output)")
        #expect(!node.output.contains("training 7 epoch"), "the node trained with its own file: \(node.output)")
    }
}
