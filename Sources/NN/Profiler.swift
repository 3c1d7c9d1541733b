import Foundation

/// Wall time and floating-point work per layer type, for `segviz bench unet --profile`.
public final class Profiler: @unchecked Sendable {
    private var seconds: [String: Double] = [:]
    private var flops: [String: Double] = [:]
    private var calls: [String: Int] = [:]

    /// An empty profile.
    public init() {}

    func measure<R>(_ kind: String, flops f: Double, _ body: () -> R) -> R {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let r = body()
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        seconds[kind, default: 0] += dt
        flops[kind, default: 0] += f
        calls[kind, default: 0] += 1
        return r
    }

    /// Clears all figures.
    public func reset() { seconds = [:]; flops = [:]; calls = [:] }

    /// One line per layer type: seconds, calls, GFLOP and GFLOP/s (sorted by time).
    public func report(divideBy steps: Int = 1) -> String {
        let total = seconds.values.reduce(0, +)
        return seconds.sorted { $0.value > $1.value }.map { k, s in
            let f = flops[k, default: 0]
            let rate = f > 0 && s > 0 ? String(format: "%7.1f GFLOP/s", f / s * 1e-9) : "               "
            return String(format: "%-28@ %8.4f s/step %5.1f%%  %6.2f GFLOP/step %@", k as NSString,
                          s / Double(steps), 100 * s / max(total, 1e-12), f / Double(steps) * 1e-9, rate as NSString)
        }.joined(separator: "\n")
    }
}
