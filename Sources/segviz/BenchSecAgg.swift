import ArgumentParser
import Foundation
import NN
import SecureAggregation
import Tensor

/// `segviz bench secagg`: one full secure-aggregation round (signed advertisements, share
/// exchange, masked input, consistency check, unmasking) of the same state machines the federation
/// runs, all clients one after another plus the server, in one process, no network. The D dropouts
/// share their keys and then vanish before sending masked input (the case needing most recovery).
struct BenchSecAgg: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secagg",
        abstract: "Time one secure-aggregation round; last line: secagg_round_s keystream_bytes chacha_gb_s limit_ratio round_cpu_s keystream_gb_per_cpu_s threads blas_core."
    )

    @Option(help: "Number of clients N.") var clients: Int = 10
    @Option(help: "Parameters per update M.") var params: Int = 1_000_000
    @Option(help: "Clients D that drop after sharing keys, before masked input.") var dropouts: Int = 0
    @Option(help: "SecAgg+ neighbourhood degree K (default: all N-1 others).") var neighbours: Int?
    @Option(help: "Seed for the synthetic updates.") var seed: UInt64 = 1
    @Option(help: "Masked arithmetic: 32 (Z_2^32) or 64 (Z_2^64, twice the keystream).") var modulusBits: Int = 32

    func validate() throws {
        guard clients >= 2 else { throw ValidationError("--clients must be at least 2") }
        guard params >= 1 else { throw ValidationError("--params must be at least 1") }
        guard dropouts >= 0, dropouts < clients else { throw ValidationError("--dropouts must be in 0..<clients") }
    }

    @Flag(help: .hidden) var calibrate = false

    func run() async throws {
        if calibrate {
            // Raw keystream speed by buffer size (per-call overhead), in this thread's CPU time.
            let key = SecureRandom.bytes(32)
            for size in [4096, 8192, 16384, 65536, 1 << 20] {
                var buffer = [UInt8](repeating: 0, count: size)
                let passes = (256 << 20) / size
                let c0 = threadCPUSeconds()
                for p in 0 ..< passes { try ChaCha20.xorInPlace(&buffer, key: key, counter: UInt32(p * size / 64)) }
                print("buffer \(size) B: \(fmt(Double(256 << 20) / (threadCPUSeconds() - c0) / 1e9)) GB/s (CPU time)")
            }
            return
        }
        let n = clients, m = params, d = dropouts
        let k = neighbours.map { min($0, n - 1) } ?? (n - 1)
        let maxWeight: UInt32 = 100

        // Setup, not timed: identities, configuration, synthetic updates.
        let identities = (0 ..< n).map { _ in Identity.SigningKey() }
        let layout = try VectorLayout.single(count: m)
        let levels = modulusBits == 64 ? UInt32(1) << 24 : min(UInt32(1) << 20, Quantisation.maximumLevels(clients: n, maxWeight: maxWeight))
        let config = try SecAggConfig(round: 1, roster: identities.map(\.publicKey), layout: layout,
                                      quantisation: Quantisation(clip: 0.05, levels: levels, maxWeight: maxWeight, modulusBits: modulusBits),
                                      neighbours: neighbours == nil ? nil : k, publicSeed: SecureRandom.bytes(32))
        var generator = SplitMix64(seed: seed)
        let updates = (0 ..< n).map { u in
            ClientUpdate(values: (0 ..< m).map { _ in generator.nextSymmetricUnit() * 0.04 }, blockWeights: [UInt32(1 + u % Int(maxWeight))])
        }
        // Spread the dropouts over the id range.
        let dropped = Set((0 ..< d).map { UInt32($0 * n / d) })
        let threshold = config.threshold  // the safe default, floor(2h/3) + 1 of h holders
        print("secagg: N=\(n) M=\(m) D=\(d) K=\(k)\(config.neighbours == nil ? " (complete graph)" : " (SecAgg+)") t=\(threshold) levels=\(levels)")

        let chachaBefore = try measureChaCha()

        // The round, timed.
        var clientTime = Duration.zero, serverTime = Duration.zero
        let clock = ContinuousClock()
        let start = clock.now
        let cpuStart = threadCPUSeconds()
        let faultsStart = minorFaults()
        var server = SecAggServer(config: config)
        var states: [SecAggClient] = []
        var toServer: [ClientMessage] = []
        var t0 = clock.now
        for u in 0 ..< n {
            let (c, ad) = try SecAggClient.start(config: config, id: UInt32(u), identity: identities[u], update: updates[u])
            states.append(c)
            toServer.append(ad)
        }
        clientTime += clock.now - t0
        // Each reply goes to the server as soon as its client produced it (as over a network),
        // so a masked vector is summed and freed before the next client builds its own.
        var phase = 0
        let startTime = clientTime
        t0 = clock.now
        var pending: [Outgoing] = []
        for msg in toServer { pending += try server.receive(msg, from: msg.sender) }
        if pending.isEmpty { pending = server.closePhase() }
        var serverPhase = clock.now - t0
        var phaseTimes: [(ProtocolPhase, Duration, Duration)] = [(.advertiseKeys, startTime, serverPhase)]
        while true {
            serverTime += serverPhase
            if case .completed = server.state { break }
            if case let .aborted(a) = server.state { throw ValidationError("round aborted: \(a.reason)") }
            var clientPhase = Duration.zero
            serverPhase = .zero
            var next: [Outgoing] = []
            for o in pending {
                // The dropouts vanish after sharing their keys.
                if dropped.contains(o.recipient), case .shareBundle = o.message { continue }
                t0 = clock.now
                let replies = try states[Int(o.recipient)].receive(o.message)
                let t1 = clock.now
                for r in replies { next += try server.receive(r, from: r.sender) }
                clientPhase += t1 - t0
                serverPhase += clock.now - t1
            }
            if next.isEmpty {  // the dropouts' deadline passes
                t0 = clock.now
                next = server.closePhase()
                serverPhase += clock.now - t0
            }
            clientTime += clientPhase
            // Clients do this phase's work on what the server sent when it closed the previous
            // one; the server collects their answers and closes it.
            phaseTimes.append(([.shareKeys, .maskedInput, .consistencyCheck, .unmasking][min(phase, 3)], clientPhase, serverPhase))
            pending = next
            phase += 1
        }
        let elapsed = clock.now - start
        let roundSeconds = seconds(elapsed)
        let roundCPU = threadCPUSeconds() - cpuStart
        let roundFaults = minorFaults() - faultsStart
        // ChaCha20's speed right before and right after the round; the faster one is the limit.
        let chachaAfter = try measureChaCha()
        let chacha = max(chachaBefore.wall, chachaAfter.wall)
        let chachaCPU = max(chachaBefore.cpu, chachaAfter.cpu)

        // Check the result against the plain weighted mean (not timed).
        let result = server.result!
        let survivors = (0 ..< UInt32(n)).filter { !dropped.contains($0) }
        let mean = result.weightedMean()
        var worst = 0.0
        let wsum = survivors.reduce(0.0) { $0 + Double(updates[Int($1)].blockWeights[0]) }
        for i in stride(from: 0, to: m, by: max(1, m / 4096)) {
            var s = 0.0
            for u in survivors { s += Double(updates[Int(u)].blockWeights[0]) * Double(updates[Int(u)].values[i]) }
            worst = max(worst, abs(Double(mean[i]) - s / wsum))
        }
        guard result.survivors == survivors, worst <= result.meanErrorBound + 1e-6 else {
            throw ValidationError("wrong result: survivors \(result.survivors.count), max error \(worst) > bound \(result.meanErrorBound)")
        }
        for (phase, c, s) in phaseTimes {
            print("phase \(phase.rawValue): clients \(fmt(seconds(c))) s, server \(fmt(seconds(s))) s")
        }
        print("clients_total_s=\(fmt(seconds(clientTime))) server_total_s=\(fmt(seconds(serverTime))) max_error=\(worst) error_bound=\(result.meanErrorBound)")
        let keystreamBytes = modulusBits / 8 * m * ((n - d) * (k + 2) + d * k)
        let limit = Double(keystreamBytes) / (chacha * 1e9)
        // The machine is shared: the round's own CPU time against the best ChaCha20 speed shows the
        // cost without other processes' interference.
        let cpuLimit = Double(keystreamBytes) / (chachaCPU * 1e9)
        print("round_cpu_s=\(fmt(roundCPU)) page_faults=\(roundFaults) chacha_cpu_gb_s=\(fmt(chachaCPU)) cpu_limit_ratio=\(fmt(roundCPU / cpuLimit))")
        // One thread runs every client and the server; OpenBLAS is not used (its core is printed like every bench's).
        print("secagg_round_s=\(fmt(roundSeconds)) keystream_bytes=\(keystreamBytes) chacha_gb_s=\(fmt(chacha)) limit_ratio=\(fmt(roundSeconds / limit))"
              + " round_cpu_s=\(fmt(roundCPU)) keystream_gb_per_cpu_s=\(fmt(Double(keystreamBytes) / roundCPU / 1e9)) threads=1 blas_core=\(Compute.blasCoreName)")
    }

    /// Raw ChaCha20-IETF keystream speed (libsodium, one core) in GB/s: best of 3 passes of
    /// 256 MiB written into a 64 KiB buffer, by wall clock and by this thread's CPU time.
    private func measureChaCha() throws -> (wall: Double, cpu: Double) {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let key = SecureRandom.bytes(32)
        let passes = 4096
        var best = (wall: 0.0, cpu: 0.0)
        let clock = ContinuousClock()
        for _ in 0 ..< 3 {
            let t0 = clock.now
            let c0 = threadCPUSeconds()
            for p in 0 ..< passes { try ChaCha20.xorInPlace(&buffer, key: key, counter: UInt32(p * 1024)) }
            let bytes = Double(passes * buffer.count)
            best.wall = max(best.wall, bytes / seconds(clock.now - t0) / 1e9)
            best.cpu = max(best.cpu, bytes / (threadCPUSeconds() - c0) / 1e9)
        }
        return best
    }
}

/// Minor page faults of the process so far.
private func minorFaults() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_minflt
}

/// CPU time of the calling thread (the round runs without suspension points, on one thread).
private func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}

func fmt(_ x: Double) -> String {
    String(format: "%.4f", x)
}
