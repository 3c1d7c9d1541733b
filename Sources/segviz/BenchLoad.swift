import ArgumentParser
import Federation
import FederationTools
import Foundation
import SecureAggregation
import Tensor

/// `segviz bench load`: a real `segviz aggregator` process against N simulated nodes on loopback. The
/// nodes live in this process: each has its own identity key (generated into a fresh federation file), its
/// own HTTP client and signs every request; each drives the real secure-aggregation client state machine
/// over the real API with a random update of the model's size (no training). D of them drop out every
/// round after sharing their keys, before sending their masked input. Measures the round time and the
/// aggregator's peak resident memory (VmHWM), and checks that the ledger records every round with the
/// right survivors and the hash of the model file on disk.
struct BenchLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load-test one aggregator with N simulated nodes; last line: round_s agg_peak_rss_mb lost cpu_s masked_mb_per_cpu_s agg_threads node_threads blas_core ...")

    @Option(help: "Simulated nodes N.") var nodes: Int = 50
    @Option(help: "SecAgg+ neighbourhood degree K (default: 16, or all N-1 others when fewer).") var neighbours: Int?
    @Option(help: "Approximate model parameters M (the U-Net's channels are scaled to it; default: the demo's U-Net).")
    var params: Int?
    @Option(help: "Nodes D that drop out each round after sharing keys, before masked input.") var dropouts: Int = 0
    @Option(help: "Rounds.") var rounds: Int = 2
    @Option(help: "Seconds the aggregator waits in a phase for silent (dropped) nodes.") var phaseTimeout: Double = 60
    @Flag(help: "Keep the working directory (keys, state, aggregator log) instead of deleting it.") var keep = false

    func validate() throws {
        guard nodes >= 3 else { throw ValidationError("--nodes must be at least 3") }
        guard dropouts >= 0, dropouts < nodes else { throw ValidationError("--dropouts must be in 0..<nodes") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
    }

    func run() async throws {
        try await failingAsync {
            let work = FileManager.default.temporaryDirectory.appendingPathComponent("segviz-load-\(getpid())")
            defer { if !keep { try? FileManager.default.removeItem(at: work) } }
            let setup = try LoadFederation(directory: work.path, nodes: nodes, neighbours: neighbours, params: params,
                                           rounds: rounds, phaseTimeout: phaseTimeout)
            let f = setup.federation
            let k = f.secureAggregation.neighbours.map(String.init) ?? "all"
            print("load: N=\(nodes) K=\(k) t=\(f.secureAggregation.threshold) M=\(setup.template.values.count) D=\(dropouts) rounds=\(rounds) channels=\(f.network.channels)")

            let cpu0 = cpuSeconds(children: true)
            let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
            let agg = try ChildProcess(exe, ["aggregator", "--federation", setup.fedPath, "--state", setup.statePath, "--threads", "1"],
                                       log: work.appendingPathComponent("aggregator.log"))
            let memory = MemoryWatch(pid: agg.process.processIdentifier)
            defer { agg.terminate() }
            let clients = try setup.clients()
            defer { Task { for c in clients { await c.shutdown() } } }
            try await setup.waitUntilListening(clients[0])

            let dropped = Set((0 ..< dropouts).map { $0 * nodes / max(dropouts, 1) })
            var times: [Double] = []
            for r in 1 ... rounds {
                let clock = ContinuousClock(), start = clock.now
                let release = Barrier(count: nodes - dropped.count)
                let outcomes = try await withThrowingTaskGroup(of: String?.self) { group in
                    for i in 0 ..< nodes {
                        group.addTask {
                            do {
                                return try await setup.simulateNode(i, round: r, client: clients[i], dropOut: dropped.contains(i),
                                                                    release: release)
                            } catch {
                                await release.withdraw()
                                return "node \(i) in round \(r): \(error)"
                            }
                        }
                    }
                    var problems: [String] = []
                    for try await p in group { if let p { problems.append(p) } }
                    return problems
                }
                let s = seconds(clock.now - start)
                times.append(s)
                memory.sample()
                print("round \(r): \(fmt(s)) s, aggregator peak RSS \(fmt(memory.peakMB)) MB")
                guard outcomes.isEmpty else {
                    throw ValidationError("round \(r): \(outcomes.count) node(s) failed: \(outcomes.prefix(3).joined(separator: "; "))")
                }
            }
            memory.sample()
            let status = await agg.wait()
            guard status == 0 else {
                throw ValidationError("the aggregator exited with status \(status); log: \(work.path)/aggregator.log")
            }
            // the simulated nodes (this process) and the aggregator (a reaped child)
            let cpu = cpuSeconds(children: true) - cpu0
            let lost = try setup.checkLedger(expectedSurvivors: nodes - dropouts)
            let modelMB = Double(setup.template.values.count * 4) / 1_048_576
            print("model_mb=\(fmt(modelMB)) masked_input_total_mb=\(fmt(modelMB * Double(nodes - dropouts))) round_max_s=\(fmt(times.max() ?? 0))")
            print("nodes=\(nodes) params=\(setup.template.values.count) dropouts=\(dropouts) rounds=\(rounds) "
                  + "round_s=\(fmt(times.reduce(0, +) / Double(times.count))) agg_peak_rss_mb=\(fmt(memory.peakMB)) lost=\(lost)"
                  + " cpu_s=\(fmt(cpu)) masked_mb_per_cpu_s=\(fmt(modelMB * Double((nodes - dropouts) * rounds) / cpu))"
                  + " agg_threads=1 node_threads=\(ProcessInfo.processInfo.activeProcessorCount) blas_core=\(Compute.blasCoreName)")
            guard lost == 0 else { throw ExitCode.failure }
        }
    }
}

/// Samples a process's peak resident set (VmHWM in /proc/PID/status).
final class MemoryWatch: @unchecked Sendable {  // `lock` guards `peak`; `timer` is set once in init.
    let pid: Int32
    private var peak = 0
    private let lock = NSLock()
    private var timer: DispatchSourceTimer?

    init(pid: Int32) {
        self.pid = pid
        let t = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "memory-watch"))
        t.schedule(deadline: .now(), repeating: .milliseconds(200))
        t.setEventHandler { [weak self] in self?.sample() }
        t.resume()
        timer = t
    }

    deinit { timer?.cancel() }

    /// Reads VmHWM now (kept when larger than what was seen).
    func sample() {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return }
        lock.withLock { peak = max(peak, kb) }
    }

    /// The largest VmHWM seen, in MiB.
    var peakMB: Double { lock.withLock { Double(peak) / 1024 } }
}
