import Foundation
import SecureAggregation
import Testing
@testable import Federation

/// A minimal federation file (required fields only) as a JSON tree, with fresh keys, and ways to change it.
struct FederationText {
    var tree: [String: Any]
    init(nodes: [(String, [String])] = [("liver-hospital", ["liver"]), ("spleen-hospital", ["spleen"])]) {
        func key() -> String { IdentityKey.generate().publicKey.base64 }
        tree = [
            "version": 2, "name": "test",
            "aggregator": ["publicKey": key(), "url": "http://127.0.0.1:8750"],
            "nodes": nodes.map { ["id": $0.0, "publicKey": key(), "organs": $0.1] as [String: Any] },
        ]
    }
    /// Sets (or with nil removes) the field at a dotted path, creating objects on the way.
    mutating func set(_ path: String, _ value: Any?) {
        func go(_ o: Any?, _ keys: ArraySlice<String>) -> Any? {
            guard let k = keys.first else { return value }
            if var a = o as? [Any], let i = Int(k) { a[i] = go(a[i], keys.dropFirst()) ?? NSNull(); return a }
            var d = o as? [String: Any] ?? [:]
            d[k] = go(d[k], keys.dropFirst())
            return d
        }
        tree = go(tree, path.split(separator: ".").map(String.init)[...]) as! [String: Any]
    }
    var data: Data { try! JSONSerialization.data(withJSONObject: tree, options: [.sortedKeys]) }
    var problems: [FederationProblem] { FederationValidator.check(data).problems }
}

@Suite struct FederationFileTests {
    @Test func minimalFileTakesEveryDefault() throws {
        let t = FederationText()
        let f = try FederationFile.decode(t.data, path: "f.json")
        #expect(f.version == 2 && f.strategy == .single && f.rounds == 3 && f.localEpochs == 2)
        #expect(f.training.patch == [32, 48, 48] && f.training.spacing == [3, 3, 3] && f.training.window == [-175, 250])
        #expect(f.secureAggregation.threshold == 2 && f.secureAggregation.collusionTolerance == .colludingClients)
        #expect(f.labels == ["0": "background", "1": "liver", "2": "spleen"] && f.aggregator.id == "aggregator")
        // The file segviz init writes (every field spelled out) has the same fingerprint as the minimal one.
        #expect(try FederationFile.decode(f.encoded()).fingerprint == f.fingerprint)
    }

    /// The issue's first failure: 13 start-and-fail attempts, each naming only the next missing field.
    @Test(arguments: ["version", "name", "aggregator", "aggregator.publicKey", "aggregator.url", "nodes",
                      "nodes.0.id", "nodes.0.publicKey", "nodes.1.organs"])
    func eachMissingRequiredFieldIsNamed(field: String) {
        var t = FederationText()
        t.set(field, nil)
        #expect(t.problems.contains(.missingField(field: field)), "\(t.problems)")
    }

    @Test func everyProblemIsReportedAtOnce() {
        var t = FederationText()
        t.set("name", nil)
        t.set("roundz", 4)
        t.set("strategy", "multi")
        t.set("training.spacing", [3, 0, 3])
        t.set("training.window", [250, -175])
        t.set("training.learningRate", -0.01)
        t.set("nodes.1.publicKey", nil)
        let p = t.problems
        #expect(p.contains(.missingField(field: "name")))
        #expect(p.contains(.unknownField(field: "roundz", suggestion: "rounds")))
        #expect(p.contains(.notAllowed(field: "strategy", value: "multi", allowed: ["single", "heads"])))
        #expect(p.contains { $0.field == "training.spacing.1" })
        #expect(p.contains { $0.field == "training.learningRate" })
        #expect(p.contains(.missingField(field: "nodes.1.publicKey")))
        #expect(p.count == 6, "\(p)")  // the window cannot be checked while required fields are missing
        let text = "\(FederationFile.LoadError(path: "f.json", problems: p))"
        #expect(text.contains("did you mean 'rounds'") && text.contains("allowed values: single, heads"))
    }

    /// Relations are still checked when other values are bad (a default stands in for each bad value).
    @Test func relationsAreReportedBesideStructuralProblems() {
        var t = FederationText()
        t.set("strategy", "multi")
        t.set("training.learningRate", -0.1)
        t.set("training.patch", [30, 48, 48])
        t.set("training.window", [250, -175])
        let p = t.problems
        #expect(p.count == 4, "\(p)")
        #expect(p.contains(.patchNotDivisible(patch: [30, 48, 48], totalStride: 8)) && p.contains(.windowNotOrdered(low: 250, high: -175)))
    }

    @Test func valueRelationsAreChecked() {
        var t = FederationText()
        t.set("training.patch", [30, 48, 48])
        t.set("training.window", [250, -175])
        t.set("training.spacing", [0, 3, 3])
        let p = t.problems
        #expect(p.contains(.patchNotDivisible(patch: [30, 48, 48], totalStride: 8)))
        #expect(p.contains(.windowNotOrdered(low: 250, high: -175)))
        #expect(p.contains(.outOfRange(field: "training.spacing.0", value: "0", limits: "must be greater than 0")))
        t = FederationText()
        t.set("network.strides", [2, 2])
        #expect(t.problems == [.stridesCount(strides: 2, channels: 4)])
        t.set("network.channels", [8, 16, 32])
        t.set("training.patch", [36, 48, 48])
        #expect(t.problems.isEmpty, "\(t.problems)")  // total stride 4 divides 36
    }

    @Test(arguments: [(-0.01, false), (0.0, false), (1e-4, true), (1.0, true), (3.0, false)])
    func learningRateMustBeSane(rate: Double, ok: Bool) {
        var t = FederationText()
        t.set("training.learningRate", rate)
        #expect(t.problems.isEmpty == ok)
    }

    @Test func thresholdAgainstNodesAndCollusionSetting() throws {
        let four = (0..<4).map { ("site-\($0)", [$0 % 2 == 0 ? "liver" : "spleen"]) }
        var t = FederationText(nodes: four)
        #expect(try FederationFile.decode(t.data).secureAggregation.threshold == 3)  // floor(2*4/3)+1
        t.set("secureAggregation.threshold", 2)
        #expect(t.problems == [.threshold(value: 2, minimum: 3, maximum: 4, holders: 4, tolerance: "colludingClients")])
        #expect(t.problems[0].description.contains("collusionTolerance"))
        t.set("secureAggregation.collusionTolerance", "none")
        #expect(t.problems.count == 1 && t.problems[0].field == "secureAggregation.threshold")  // none still needs > h/2
        t.set("secureAggregation.threshold", 3)
        #expect(t.problems.isEmpty)
        t.set("secureAggregation.threshold", 5)
        #expect(t.problems.first?.field == "secureAggregation.threshold")
    }

    /// A heads federation where one organ has a single annotating site: its head could never be aggregated
    /// without disclosing it. The hint names the real field (the old one named `allowSmallBlocks`).
    @Test func blockWithOneContributorNamesTheRealField() throws {
        var t = FederationText(nodes: [("a", ["liver"]), ("b", ["liver"]), ("c", ["spleen"])])
        t.set("strategy", "heads")
        t.set("secureAggregation.threshold", 3)
        let p = t.problems
        #expect(p == [.tooFewContributors(block: "head 'spleen'", contributors: 1)])
        #expect(p[0].field == "secureAggregation.allowSingleContributorBlocks")
        #expect(p[0].description.contains("secureAggregation.allowSingleContributorBlocks") && !p[0].description.contains("allowSmallBlocks"))
        t.set("secureAggregation.allowSingleContributorBlocks", true)
        #expect(t.problems.isEmpty, "\(t.problems)")
    }

    @Test func httpsNeedsAPinnedCertificateAndKeysMustParse() {
        var t = FederationText()
        t.set("aggregator.url", "https://aggregator.example:8750")
        t.set("nodes.0.publicKey", "not a key")
        t.set("nodes.1.organs", ["kidney"])
        let p = t.problems
        #expect(p.contains(.httpsNeedsPinnedCertificate))
        #expect(p.contains { if case .invalidKey(field: "nodes.0.publicKey", _) = $0 { return true }; return false })
        #expect(p.contains(.unknownOrgan(field: "nodes.1.organs", organ: "kidney", known: ["liver", "spleen"])))
    }

    @Test func olderVersionIsRefusedWithHowToUpgradeAndUpgrades() throws {
        var t = FederationText()
        t.set("version", 1)
        #expect(t.problems == [.outdatedVersion(found: 1)])
        #expect(t.problems[0].description.contains("segviz federation upgrade"))
        let dir = try temporaryDirectory()
        let path = dir + "/federation.json"
        try t.data.write(to: URL(fileURLWithPath: path))
        #expect(try FederationUpgrade.upgradeFile(at: path) == 1)
        let f = try FederationFile.load(from: path)
        #expect(f.version == 2)
        #expect(FileManager.default.fileExists(atPath: path + ".v1.bak"))
        t.set("version", 2)
        #expect(try FederationFile.decode(t.data).fingerprint == f.fingerprint)  // every value kept
        t.set("version", 3)
        #expect(t.problems == [.unsupportedVersion(found: 3)])
    }

    @Test func fingerprintIgnoresFormAndURLButNotValues() throws {
        var t = FederationText()
        let base = try FederationFile.decode(t.data)
        t.set("rounds", 3)  // the default, spelled out
        t.set("aggregator.url", "http://aggregator.example:8750")  // where one party reaches it
        let same = try FederationFile.decode(t.data)
        #expect(same.fingerprint == base.fingerprint)
        let pretty = try JSONSerialization.data(withJSONObject: t.tree, options: [.prettyPrinted])
        #expect(try FederationFile.decode(pretty).fingerprint == base.fingerprint)
        t.set("localEpochs", 7)
        t.set("training.learningRate", 0.05)
        let other = try FederationFile.decode(t.data)
        #expect(other.fingerprint != base.fingerprint)
        #expect(FederationFile.firstDifference(other.fieldDigests, base.fieldDigests) == "localEpochs")
        t.set("localEpochs", 2)
        #expect(FederationFile.firstDifference(try FederationFile.decode(t.data).fieldDigests, base.fieldDigests) == "training.learningRate")
        // Bound into the signed round configuration: a different file gives a different context, which a client refuses.
        #expect(RoundContext(other, round: 1, modelRound: 0, modelHash: [UInt8](repeating: 0, count: 32)).binding != RoundContext(base, round: 1, modelRound: 0, modelHash: [UInt8](repeating: 0, count: 32)).binding)
        #expect(RoundContext(same, round: 1, modelRound: 0, modelHash: [UInt8](repeating: 0, count: 32)).binding == RoundContext(base, round: 1, modelRound: 0, modelHash: [UInt8](repeating: 0, count: 32)).binding)
    }

    /// The attack: an aggregator announces the node's fingerprint but runs the round from a file that differs
    /// (here only in localEpochs, which the protocol's own parameters do not cover). The round's signed
    /// configuration still differs, so every signature and key derivation of the node fails against it.
    @Test func roundConfigurationBindsTheWholeFile() throws {
        var t = FederationText()
        let node = try FederationFile.decode(t.data)
        t.set("localEpochs", 7)
        let aggregator = try FederationFile.decode(t.data)
        let model = FederatedModel(strategy: .single, organs: node.organNames,
                                   network: .init(channels: [2, 4], strides: [2], numResUnits: 1, norm: "batch"), seed: 1)
        let session = [UInt8](repeating: 7, count: 32)
        let mine = try RoundSetup.config(federation: node, model: model, context: RoundContext(node, round: 1, modelRound: 0, modelHash: [UInt8](repeating: 0, count: 32)), session: session)
        let theirs = try RoundSetup.config(federation: aggregator, model: model, context: RoundContext(aggregator, round: 1, modelRound: 0, modelHash: [UInt8](repeating: 0, count: 32)), session: session)
        #expect(mine.boundContext == RoundContext(node, round: 1, modelRound: 0, modelHash: [UInt8](repeating: 0, count: 32)).binding)
        #expect(mine.digest != theirs.digest)
        #expect(try RoundSetup.config(federation: node, model: model, context: RoundContext(node, round: 1, modelRound: 0, modelHash: [UInt8](repeating: 0, count: 32)), session: session).digest == mine.digest)
    }

    @Test func committedSchemaIsTheGeneratedOne() throws {
        let committed = try String(contentsOfFile: repositoryRoot() + "/federation.schema.json", encoding: .utf8)
        #expect(committed.trimmingCharacters(in: .whitespacesAndNewlines) == FederationSchema.jsonSchemaText(),
                "regenerate with: segviz federation schema > federation.schema.json")
    }
}

/// The package's root folder.
func repositoryRoot() -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}
