import ArgumentParser
import Federation
import Foundation
import Tensor

/// `segviz init`: writes a complete federation file from the public keys in a folder and a few choices.
struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a federation file from the public keys in a folder (every optional field at its default).",
        discussion: """
            Reads KEYS/ID.pub for the aggregator (--aggregator-id) and every other *.pub in KEYS as a node, which \
            needs a --node ID=ORGAN[,ORGAN] naming the organs its labels annotate. Checks the result as \
            `segviz federation check` does and writes nothing if anything is wrong. Refuses to overwrite \
            without --force.
            """)

    @Option(help: "Folder of public keys (ID.pub).") var keys: String = "keys"
    @Option(help: "The federation's name (logs, status page).") var name: String
    @Option(help: "The aggregator's URL as nodes reach it, e.g. http://aggregator.example:8750.") var aggregatorUrl: String
    @Option(help: "The aggregator's key id (KEYS/ID.pub).") var aggregatorId: String = "aggregator"
    @Option(help: "A node and the organs it annotates, ID=ORGAN[,ORGAN] (repeat for each node).") var node: [String] = []
    @Option(help: "single (one multi-class model) or heads (shared core, one head per organ).") var strategy: String = "single"
    @Option(help: "Federated rounds (default: the file format's default).") var rounds: Int?
    @Option(help: "Local epochs per round (default: the file format's default).") var localEpochs: Int?
    @Option(help: "The aggregator's TLS certificate (PEM) to pin, for an https URL.") var tlsCert: String?
    @Option(help: "Where to write (default: KEYS/federation.json).") var out: String?
    @Flag(help: "Overwrite an existing file.") var force = false

    func run() throws {
        try failing {
            guard let strat = FederationFile.Strategy(rawValue: strategy) else {
                throw ValidationError("--strategy: '\(strategy)' is not allowed; allowed values: single, heads")
            }
            let outPath = out ?? URL(fileURLWithPath: keys).appendingPathComponent("federation.json").path
            if FileManager.default.fileExists(atPath: outPath) && !force {
                throw ValidationError("\(outPath) exists; give --force to overwrite it")
            }
            var organs: [String: [String]] = [:]
            for n in node {
                let parts = n.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[1].isEmpty else { throw ValidationError("--node '\(n)': expected ID=ORGAN[,ORGAN]") }
                organs[parts[0]] = parts[1].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            }
            let files = try FileManager.default.contentsOfDirectory(atPath: keys).filter { $0.hasSuffix(".pub") }.sorted()
            let ids = files.map { String($0.dropLast(4)) }
            guard ids.contains(aggregatorId) else {
                throw ValidationError("\(keys): no \(aggregatorId).pub (the aggregator's public key; see segviz keygen)")
            }
            let nodeIDs = ids.filter { $0 != aggregatorId }
            let unnamed = nodeIDs.filter { organs[$0] == nil }
            let stray = organs.keys.filter { !nodeIDs.contains($0) }.sorted()
            guard unnamed.isEmpty, stray.isEmpty else {
                throw ValidationError((unnamed.isEmpty ? "" : "give --node ID=ORGAN for every node key in \(keys): missing "
                                        + unnamed.joined(separator: ", ") + (stray.isEmpty ? "" : "; "))
                                      + (stray.isEmpty ? "" : "--node names ids without a key in \(keys): " + stray.joined(separator: ", ")))
            }
            func key(_ id: String) throws -> Minisign.PublicKey {
                try KeyFiles.loadPublicKey(path: KeyFiles.paths(id: id, directory: keys).publicKey)
            }
            var f = FederationSetup.defaultFederation(
                name: name, aggregatorKey: try key(aggregatorId), url: aggregatorUrl, aggregatorID: aggregatorId, strategy: strat,
                nodes: try nodeIDs.map { (FederationSetup.NodeSpec(id: $0, organs: organs[$0]!), try key($0)) })
            if let rounds { f.rounds = rounds }
            if let localEpochs { f.localEpochs = localEpochs }
            if let tlsCert {
                do { f.aggregator.tlsCertificate = try String(contentsOfFile: tlsCert, encoding: .utf8) } catch {
                    throw ValidationError("--tls-cert \(tlsCert): cannot read: \(error.localizedDescription)")
                }
            }
            do { try f.validate() } catch var e as FederationFile.LoadError {
                e.path = outPath + " (not written)"
                throw e
            }
            try AtomicFile.write(path: outPath, contents: try f.encoded())
            print("wrote \(outPath): federation '\(f.name)', \(f.nodes.count) nodes (\(f.nodes.map { "\($0.id): \($0.organs.joined(separator: "+"))" }.joined(separator: ", "))), "
                  + "strategy \(f.strategy.rawValue), threshold \(f.secureAggregation.threshold) of \(f.nodes.count)")
            print("fingerprint: \(f.fingerprint)")
            print("give every party this same file (segviz federation check FILE prints its fingerprint)")
        }
    }
}
