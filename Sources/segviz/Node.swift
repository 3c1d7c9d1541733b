import ArgumentParser
import Federation
import Foundation
import Imaging
import Tensor

/// `segviz node`: one hospital's participant in the federation.
struct Node: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a node: fetch and verify the global model, train locally, take part in secure aggregation.",
        discussion: "Connects out to the aggregator (no inbound port); reconnects with backoff; a restarted node rejoins at the next round. "
            + "Exits 0 when the federation finished or stopped at the privacy budget, 1 when it failed or the aggregator stayed unreachable.")

    @Option(help: "Federation file.") var federation: String
    @Option(help: "This node's id in the federation file.") var id: String
    @Option(help: "This node's private key file.") var key: String
    @Option(help: "The node's data set (MSD, BTCV or image/label pairs).") var dataset: String
    @Option(help: "Label mapping (see segviz train --help), e.g. msd-liver.") var labels: String
    @Option(help: "Aggregator URL (default: from the federation file; a pinned https URL cannot be replaced by http).") var aggregator: String?
    @Option(help: "Seconds to keep trying an unreachable aggregator before exiting with status 1.")
    var giveUpAfter: Double = 300
    @Option(help: "Worker threads for training.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Flag(help: "Leave out cases with errors (listed) instead of refusing the data set.") var skipBadCases = false
    @Option(help: "The node's own durable memory (rounds and attempts it took part in, what it revealed); a folder of another federation or node is refused.")
    var state: String?
    @Option(help: ArgumentHelp("Testing: exit abruptly when entering this phase (Training, ShareKeys, MaskedInput, ConsistencyCheck, Unmasking) in --crash-round.", visibility: .hidden))
    var crashAt: String?
    @Option(help: ArgumentHelp("Testing: the round for --crash-at and --hold-at.", visibility: .hidden)) var crashRound: Int = 1
    @Option(help: ArgumentHelp("Testing: pause --hold-seconds when entering this phase in --crash-round (logs 'holding at PHASE'), so a test can cut the link then.", visibility: .hidden))
    var holdAt: String?
    @Option(help: ArgumentHelp("Testing: how long --hold-at pauses.", visibility: .hidden)) var holdSeconds: Double = 1

    func run() async throws {
        try await failingAsync {
            let crash = try crashAt.map { try Self.phase($0, flag: "--crash-at") }
            let hold = try holdAt.map { try Self.phase($0, flag: "--hold-at") }
            var f = try FederationFile.load(from: federation)
            f.aggregator.url = try StartupRefusal.nodeURL(federation: f, override: aggregator)
            let k = try KeyFiles.loadSecretKey(path: key)
            let mapping: LabelMapping
            do { mapping = try LabelMapping(parsing: labels) } catch { throw ValidationError("\(error)") }
            let compute = ComputePool(jobs: 1, kernelThreads: max(1, threads))
            let log: @Sendable (String) -> Void = { [id] in logLine(id, $0) }
            let trainer = try SiteTrainer(federation: f, node: id, dataset: dataset, mapping: mapping,
                                          skipBadCases: skipBadCases, stateDirectory: state, log: log)
            let crashRound = crashRound, holdSeconds = holdSeconds
            let runner = try NodeRunner(federation: f, id: id, key: k, trainer: trainer, aggregatorURL: f.aggregator.url,
                                        stateDirectory: state, compute: compute, giveUpAfter: giveUpAfter, log: log,
                                        onPhase: { phase, round in
                                            guard round == crashRound else { return }
                                            if phase == crash {
                                                log("simulated crash at \(phase.name) in round \(round)")
                                                Foundation.exit(3)
                                            }
                                            if phase == hold {
                                                log("holding at \(phase.name) in round \(round) for \(holdSeconds) s")
                                                try? await Task.sleep(nanoseconds: UInt64(holdSeconds * 1e9))
                                            }
                                        })
            try await runner.run()
        }
    }

    /// The phase a --crash-at/--hold-at value names, or an error listing the allowed values.
    static func phase(_ value: String, flag: String) throws -> NodePhase {
        guard let p = NodePhase(name: value) else {
            throw ValidationError("\(flag): unknown phase '\(value)'; allowed: "
                                  + NodePhase.allCases.map(\.name).joined(separator: ", "))
        }
        return p
    }
}
