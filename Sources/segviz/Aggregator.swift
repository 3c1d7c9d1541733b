import ArgumentParser
import Federation
import FederationTools
import Foundation
import Imaging
import Tensor

/// `segviz aggregator`: runs the federation's secure rounds and publishes signed global models.
struct Aggregator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the aggregator: secure rounds, signed global models, the ledger, the status page.",
        discussion: "State (models, ledger) lives in --state; after a crash or kill it resumes after the last recorded round. "
            + "Exits 0 when every round completed or the federation stopped at the privacy budget (a planned stop), 1 when it failed.")

    @Option(help: "Federation file.") var federation: String
    @Option(help: "State directory (models/, ledger.sqlite).") var state: String
    @Option(help: "The aggregator's private key (default: aggregator.key beside the federation file).") var key: String?
    @Option(help: "Listen address HOST:PORT (default: from the federation file's aggregator URL).") var listen: String?
    @Option(help: "Labelled external data set to evaluate each global model on (Dice per organ).") var evaluate: String?
    @Option(help: "Label mapping of the evaluation set (default: from its segviz-phantom.json).") var evaluateLabels: String?
    @Option(help: "Worker threads for evaluation.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "TLS certificate chain (PEM) to serve HTTPS; the federation file pins this certificate.") var tlsCert: String?
    @Option(help: "TLS private key (PEM).") var tlsKey: String?
    @Option(help: "Seconds to keep serving (final model, status page) after the last round.") var linger: Double = 5
    @Flag(help: "Keep serving after the last round until stopped (SIGTERM or Ctrl-C).") var keepServing = false
    @Option(help: ArgumentHelp("Testing: seconds a message long-poll waits before answering 204.", visibility: .hidden))
    var longPollSeconds: Double = 20
    @Option(help: "Attempts in a row that may abort (from one global model) before the federation stops as failed (exit 1).")
    var attemptsPerRound: Int = 3

    func validate() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("give both --tls-cert and --tls-key, or neither") }
    }

    func run() async throws {
        try await failingAsync {
            // Every check first; the state folder is created (and locked) only once they pass, and removed again
            // if this start created it and then failed before serving.
            let f = try FederationFile.load(from: federation)
            let keyPath = key ?? URL(fileURLWithPath: federation).deletingLastPathComponent()
                .appendingPathComponent("\(f.aggregator.id).key").path
            let k = try KeyFiles.loadSecretKey(path: keyPath)
            try StartupRefusal.checkTLS(federation: f, serving: tlsCert != nil)
            let (host, port) = try parseHostPort(listen ?? f.aggregator.url)
            try StartupRefusal.checkListen(host: host, port: port)
            let evaluation = try evaluate.map { path -> (Dataset, LabelMapping) in
                let ds = try Dataset.open(URL(fileURLWithPath: path))
                return (ds, try LabelMapping(parsing: try evaluateLabels ?? PhantomLabels.read(ds.root)))
            }
            let fm = FileManager.default
            let created = !fm.fileExists(atPath: state)
            let listening = SettableFlag()
            do {
                try fm.createDirectory(atPath: state, withIntermediateDirectories: true)
                let lock = try StateFolderLock(stateDirectory: state)
                try await serve(f, key: k, host: host, port: port, evaluation: evaluation, listening: listening)
                withExtendedLifetime(lock) {}
            } catch {
                if created, !listening.value { try? fm.removeItem(atPath: state) }
                throw error
            }
        }
    }

    /// Opens the coordinator on the locked state folder and serves until the federation ends; throws
    /// ``FederationEndError`` when it ended without completing its rounds, unless it stopped at the privacy budget.
    func serve(_ f: FederationFile, key k: IdentityKey, host: String, port: Int, evaluation: (Dataset, LabelMapping)?,
               listening: SettableFlag) async throws {
        let log: @Sendable (String) -> Void = { logLine("aggregator", $0) }
        let compute = ComputePool(jobs: 1, kernelThreads: max(1, threads))
        let coordinator = try Coordinator(federation: f, stateDirectory: state, key: k, compute: compute,
                                          attemptsPerRound: attemptsPerRound, log: log)
        if let (ds, mapping) = evaluation {
            let roi = f.training.patch
            let spacing = f.training.spacing, window = f.training.window
            await coordinator.setEvaluation { model, _ in
                do {
                    return try GlobalModelInference(model: model, spacing: spacing, window: window, roi: roi)
                        .meanDice(dataset: ds, mapping: mapping)
                } catch {
                    log("evaluation failed: \(error)")
                    return [:]
                }
            }
        }
        let tls = tlsCert.flatMap { cert in tlsKey.map { AggregatorService.TLSFiles(certificate: cert, privateKey: $0) } }
        try await AggregatorService.run(coordinator: coordinator, federation: f, host: host, port: port, tls: tls,
                                         lingerSeconds: keepServing ? .infinity : max(0, linger),
                                         longPollSeconds: longPollSeconds, log: log, onListening: { _ in listening.set() })
        let outcome = await coordinator.outcome
        // Every round, or a stop at the privacy budget (a planned stop, logged as such): exit 0.
        guard outcome.endedAsPlanned else {
            throw FederationEndError.failed(completed: outcome.completedRounds, rounds: outcome.rounds,
                                            reason: outcome.failure ?? "stopped before its last round")
        }
    }
}

/// The label mapping a phantom data set records in its segviz-phantom.json.
enum PhantomLabels {
    static func read(_ root: URL) throws -> String {
        let url = root.appendingPathComponent("segviz-phantom.json")
        guard let data = try? Data(contentsOf: url),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let l = obj["labels"] as? String else {
            throw ValidationError("no label mapping given and no segviz-phantom.json with a labels entry in \(root.path)")
        }
        return l
    }
}
