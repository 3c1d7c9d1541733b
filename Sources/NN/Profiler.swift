import Foundation

/// Wall time and floating-point work per layer type, for `segviz bench unet --profile`.
public final class Profiler: @unchecked Sendable {
    private var seconds: [String: Double] = [:]
    private var cpuSeconds: [String: Double] = [:]
    private var flops: [String: Double] = [:]
    private var calls: [String: Int] = [:]

    /// Whether convolutions are reported per channel count and size rather than per type.
    public let perLayer: Bool

    /// An empty profile.
    public init(perLayer: Bool = false) { self.perLayer = perLayer }

    func measure<R>(_ kind: String, flops f: Double, _ body: () -> R) -> R {
        let t0 = DispatchTime.now().uptimeNanoseconds, c0 = Self.processCPU()
        let r = body()
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        seconds[kind, default: 0] += dt
        cpuSeconds[kind, default: 0] += Self.processCPU() - c0
        flops[kind, default: 0] += f
        calls[kind, default: 0] += 1
        return r
    }

    /// Floating-point operations recorded so far (convolutions).
    public var totalFlops: Double { flops.values.reduce(0, +) }

    /// Clears all figures.
    public func reset() { seconds = [:]; cpuSeconds = [:]; flops = [:]; calls = [:] }

    /// CPU time of the whole process (all threads), in seconds: unlike wall time, it does not
    /// grow when other processes compete for the cores.
    public static func processCPU() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// One line per layer type: wall seconds, share, GFLOP, GFLOP/s of wall time, CPU seconds and
    /// GFLOP/s per CPU second (sorted by wall time).
    public func report(divideBy steps: Int = 1) -> String {
        let total = seconds.values.reduce(0, +)
        return seconds.sorted { $0.value > $1.value }.map { k, s in
            let f = flops[k, default: 0], c = cpuSeconds[k, default: 0]
            let rate = f > 0 && s > 0 ? String(format: "%6.1f GFLOP/s", f / s * 1e-9) : "              "
            let cpuRate = f > 0 && c > 0 ? String(format: "%6.1f GFLOP/cpu-s", f / c * 1e-9) : ""
            return String(format: "%-16@ %7.4f s/step %5.1f%%  %6.2f GFLOP/step %@  cpu %7.4f s %@", k as NSString,
                          s / Double(steps), 100 * s / max(total, 1e-12), f / Double(steps) * 1e-9, rate as NSString,
                          c / Double(steps), cpuRate as NSString)
        }.joined(separator: "\n")
    }
}
