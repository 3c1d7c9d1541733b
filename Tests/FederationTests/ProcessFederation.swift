import Foundation
import Imaging
import SecureAggregation
@testable import Federation

/// The `segviz` executable built beside the test bundle.
func segvizExecutable() -> String {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for dir in [bundle, bundle.deletingLastPathComponent()] {
        let p = dir.appendingPathComponent("segviz").path
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    // Fallback: the package's debug build folder.
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/segviz").path
}

/// A running child process with its output captured to a file.
final class Child: @unchecked Sendable {
    let process = Process()
    let logPath: String

    /// Runs `segviz ARGS`, or `LAUNCHER... segviz ARGS` (e.g. `ip netns exec NS`) when `launcher` is given.
    convenience init(_ args: [String], log: String, launcher: [String] = []) throws {
        try self.init(command: launcher + [segvizExecutable()] + args, log: log)
    }

    /// Runs `command` (an executable path and its arguments).
    init(command: [String], log: String) throws {
        logPath = log
        FileManager.default.createFile(atPath: log, contents: nil)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.standardOutput = h
        process.standardError = h
        try process.run()
    }

    /// Waits up to `seconds` for exit; returns the status, or nil if it is still running.
    func wait(seconds: Double) async -> Int32? {
        let until = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < until { try? await Task.sleep(nanoseconds: 50_000_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    func kill9() { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

/// A small federation on disk: phantom sites (by default three: liver, spleen, liver; with `twoPerOrgan`
/// four: liver, spleen, liver, spleen), keys and the federation file.
struct ProcessFederation {
    let dir: String
    let federation: FederationFile
    let fedPath: String
    let sites: [String]
    var mappings: [String: String] = [:]
    let externalMapping: String

    init(rounds: Int, phaseTimeout: Double = 4, trainingTimeout: Double = 60, threshold: Int? = nil,
         strategy: FederationFile.Strategy = .single, twoPerOrgan: Bool = false) throws {
        sites = twoPerOrgan ? ["liver-a", "spleen-b", "liver-c", "spleen-d"] : ["liver-a", "spleen-b", "liver-c"]
        dir = try temporaryDirectory()
        let gen = PhantomGenerator(dims: [32, 32, 24], spacing: SIMD3(9, 9, 9))
        let ann: [PhantomAnnotation] = [.liver, .spleen, .liver, .spleen]
        for (i, s) in sites.enumerated() {
            let w = PhantomDatasetWriter(generator: gen, layout: .msd, annotate: ann[i], seed: UInt64(10 + i))
            _ = try w.write(to: URL(fileURLWithPath: "\(dir)/sites/\(s)"), cases: 2)
            mappings[s] = w.labelMapping
        }
        let ext = PhantomDatasetWriter(generator: gen, layout: .btcv, annotate: .all, seed: 99)
        _ = try ext.write(to: URL(fileURLWithPath: "\(dir)/external"), cases: 1)
        externalMapping = ext.labelMapping
        let port = freePort()
        let organs = ["liver-a": ["liver"], "spleen-b": ["spleen"], "liver-c": ["liver"], "spleen-d": ["spleen"]]
        federation = try FederationSetup.create(keysDirectory: "\(dir)/keys", name: "proc-test", url: "http://127.0.0.1:\(port)",
                                                nodes: sites.map { .init(id: $0, organs: organs[$0]!) }) { f in
            f.network = .init(channels: [4, 8, 16], strides: [2, 2], numResUnits: 1, norm: "batch")
            f.training.patch = [16, 16, 16]
            f.training.spacing = [9, 9, 9]
            f.training.patchesPerVolume = 2
            f.rounds = rounds
            f.strategy = strategy
            f.localEpochs = 1
            f.phaseTimeoutSeconds = phaseTimeout
            f.trainingTimeoutSeconds = trainingTimeout
            // Three sites that survive one crash need t = 2, below the colluding-nodes default of 3: an explicit choice.
            f.secureAggregation.threshold = threshold ?? 2
            f.secureAggregation.collusionTolerance = CollusionTolerance.none
        }
        fedPath = "\(dir)/keys/federation.json"
    }

    var statePath: String { "\(dir)/state" }

    /// Node `id`'s own state folder (`segviz node --state`), kept across its restarts.
    func nodeStatePath(_ id: String) -> String { "\(dir)/node-state/\(id)" }

    func startAggregator(log: String = "aggregator.log", listen: String? = nil, extra: [String] = [],
                         launcher: [String] = []) throws -> Child {
        try Child(["aggregator", "--federation", fedPath, "--state", statePath, "--threads", "1"]
                  + (listen.map { ["--listen", $0] } ?? []) + extra,
                  log: "\(dir)/\(log)", launcher: launcher)
    }

    /// The aggregator's base URL from the federation file.
    var url: String { federation.aggregator.url }

    /// Starts node `id`; `crashAt` kills it at that phase of `crashRound`, `holdAt` pauses it there (3 s);
    /// `aggregator` overrides the federation file's URL, `launcher` prefixes the command (a namespace).
    func startNode(_ id: String, crashAt: String? = nil, holdAt: String? = nil, crashRound: Int = 1,
                   aggregator: String? = nil, launcher: [String] = []) throws -> Child {
        var args = ["node", "--federation", fedPath, "--id", id, "--key", "\(dir)/keys/\(id).key",
                    "--dataset", "\(dir)/sites/\(id)", "--labels", mappings[id]!, "--threads", "1",
                    "--state", nodeStatePath(id)]
        if let crashAt { args += ["--crash-at", crashAt, "--crash-round", String(crashRound)] }
        if let holdAt { args += ["--hold-at", holdAt, "--hold-seconds", "3", "--crash-round", String(crashRound)] }
        if let aggregator { args += ["--aggregator", aggregator] }
        return try Child(args, log: "\(dir)/\(id)-\(crashAt ?? holdAt ?? "run")-r\(crashRound).log", launcher: launcher)
    }

    /// Waits (up to `seconds`) until the ledger holds at least `count` records.
    func waitForRecords(_ count: Int, seconds: Double = 180) async throws {
        let until = Date().addingTimeInterval(seconds)
        while Date() < until, (try? ledger().records.count) ?? 0 < count { try await Task.sleep(nanoseconds: 100_000_000) }
        let have = (try? ledger().records.count) ?? 0
        if have < count {
            throw TimedOut(what: "\(count) ledger record(s) in \(statePath) within \(Int(seconds)) s (have \(have))")
        }
    }

    func ledger() throws -> LedgerVerification {
        try Ledger(path: "\(statePath)/ledger.sqlite")
            .verify(aggregatorKey: try KeyFiles.loadPublicKey(path: "\(dir)/keys/aggregator.pub"))
    }
}

/// A wait in a process test that ran out of time.
struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}
