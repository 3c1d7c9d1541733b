import Foundation
import Testing
@testable import Federation

let hasJSONSchema: Bool = (try? run(["python3", "-c", "import jsonschema"]).status) == 0

/// A corpus of valid and invalid federation files through Python's jsonschema (an independent implementation
/// of JSON Schema, with the committed `federation.schema.json`) and through segviz's validator: the verdicts
/// must agree on everything JSON Schema can state, and segviz must also refuse the files whose values do not
/// fit together (which the schema, by design, accepts).
@Suite(.enabled(if: hasJSONSchema, "python3 -m pip install jsonschema (scripts/install-deps.sh) to compare with JSON Schema"))
struct FederationSchemaCorpusTests {
    /// Name, change to the minimal valid file, schema valid, segviz valid.
    static var corpus: [(String, [(String, Any?)], Bool, Bool)] { [
        ("minimal", [], true, true),
        ("everything-explicit", [("rounds", 5), ("localEpochs", 10), ("strategy", "heads"), ("network.norm", "instance"),
                                 ("training.learningRate", 0.001), ("secureAggregation.clip", 8), ("localPatterns", [".adn."]),
                                 ("secureAggregation.neighbours", NSNull()), ("aggregator.tlsCertificate", NSNull()),
                                 ("secureAggregation.allowSingleContributorBlocks", true)], true, true),
        ("missing-version", [("version", nil)], false, false),
        ("version-1", [("version", 1)], false, false),
        ("version-3", [("version", 3)], false, false),
        ("missing-name", [("name", nil)], false, false),
        ("missing-node-organs", [("nodes.0.organs", nil)], false, false),
        ("missing-aggregator-key", [("aggregator.publicKey", nil)], false, false),
        ("unknown-roundz", [("roundz", 4)], false, false),
        ("unknown-nested", [("training.epochs", 4)], false, false),
        ("strategy-multi", [("strategy", "multi")], false, false),
        ("norm-group", [("network.norm", "group")], false, false),
        ("tolerance-some", [("secureAggregation.collusionTolerance", "some")], false, false),
        ("rounds-string", [("rounds", "4")], false, false),
        ("rounds-fraction", [("rounds", 2.5)], false, false),
        ("rounds-zero", [("rounds", 0)], false, false),
        ("epochs-huge", [("localEpochs", 100000)], false, false),
        ("spacing-zero", [("training.spacing", [3, 0, 3])], false, false),
        ("spacing-two", [("training.spacing", [3, 3])], false, false),
        ("lr-negative", [("training.learningRate", -0.01)], false, false),
        ("lr-ten", [("training.learningRate", 10)], false, false),
        ("patch-tiny", [("training.patch", [4, 48, 48])], false, false),
        ("stride-3", [("network.strides", [2, 3, 2])], false, false),
        ("one-node", [("nodes", "drop-one")], false, false),
        ("label-key-word", [("labels", ["0": "background", "one": "liver"])], false, false),
        ("node-id-space", [("nodes.0.id", "liver hospital")], false, false),
        ("url-ftp", [("aggregator.url", "ftp://x:1")], false, false),
        ("allow-string", [("secureAggregation.allowSingleContributorBlocks", "yes")], false, false),
        ("timeout-zero", [("phaseTimeoutSeconds", 0)], false, false),
        ("not-an-object", [("", [1, 2])], false, false),
        // Relations JSON Schema cannot state: the schema accepts these, segviz refuses them.
        ("patch-30", [("training.patch", [30, 48, 48])], true, false),
        ("window-reversed", [("training.window", [250, -175])], true, false),
        ("strides-count", [("network.strides", [2, 2])], true, false),
        ("threshold-high", [("secureAggregation.threshold", 3)], true, false),
        ("https-unpinned", [("aggregator.url", "https://aggregator.example:8750")], true, false),
        ("organ-unknown", [("nodes.1.organs", ["kidney"])], true, false),
        ("bad-key", [("nodes.0.publicKey", "bm90IGEga2V5")], true, false),
        ("duplicate-id", [("nodes.1.id", "liver-hospital")], true, false),
        ("heads-one-spleen", [("strategy", "heads"), ("nodes", "three-one-spleen")], true, false),
    ] }

    @Test(.timeLimit(.minutes(5))) func jsonSchemaAndSegvizAgree() throws {
        let dir = try temporaryDirectory()
        var names: [String] = []
        for (name, changes, _, _) in Self.corpus {
            var t = FederationText()
            var raw: Data?
            for (path, value) in changes {
                if path.isEmpty { raw = try JSONSerialization.data(withJSONObject: value!) }
                else if value as? String == "drop-one" { t = FederationText(nodes: [("liver-hospital", ["liver"])]) }
                else if value as? String == "three-one-spleen" {
                    let strategy = t.tree["strategy"]
                    t = FederationText(nodes: [("a", ["liver"]), ("b", ["liver"]), ("c", ["spleen"])])
                    t.set("strategy", strategy)
                } else { t.set(path, value) }
            }
            try (raw ?? t.data).write(to: URL(fileURLWithPath: "\(dir)/\(name).json"))
            names.append(name)
        }
        let script = """
            import json, sys, jsonschema
            schema = json.load(open(sys.argv[1]))
            jsonschema.Draft202012Validator.check_schema(schema)
            v = jsonschema.Draft202012Validator(schema)
            for name in sys.argv[3:]:
                print(name, "valid" if v.is_valid(json.load(open(f"{sys.argv[2]}/{name}.json"))) else "invalid")
            """
        let r = try run(["python3", "-c", script, repositoryRoot() + "/federation.schema.json", dir] + names)
        #expect(r.status == 0, "\(r.output)")
        let verdicts = Dictionary(uniqueKeysWithValues: r.output.split(separator: "\n").compactMap { line -> (String, Bool)? in
            let w = line.split(separator: " ")
            return w.count == 2 ? (String(w[0]), w[1] == "valid") : nil
        })
        for (name, _, schemaValid, segvizValid) in Self.corpus {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name).json"))
            let problems = FederationValidator.check(data).problems
            #expect(verdicts[name] == schemaValid, "jsonschema on \(name)")
            #expect(!problems.contains(where: \.isStructural) == schemaValid, "segviz's structural verdict on \(name): \(problems)")
            #expect(problems.isEmpty == segvizValid, "segviz on \(name): \(problems)")
        }
    }
}
