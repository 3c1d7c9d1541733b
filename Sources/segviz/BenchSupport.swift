import Foundation
#if canImport(Glibc)
import Glibc
#endif

// Figures shared by the `segviz bench` subcommands.

/// The median of `v` (0 when empty).
func median(_ v: [Double]) -> Double {
    guard !v.isEmpty else { return 0 }
    let s = v.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// The process's peak resident set size, `getrusage(RUSAGE_SELF).ru_maxrss` (what Python's
/// `resource` module reports for the PyTorch anchors), in MiB.
func peakRSSMiB() -> Int {
    var u = rusage()
    guard getrusage(RUSAGE_SELF.rawValue, &u) == 0 else { return 0 }
    return Int(u.ru_maxrss) / 1024
}

/// The peak resident set size since the last ``resetPeakMemory()`` (VmHWM), in MiB; 0 without /proc.
func peakMemoryMiB() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let kb = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }?
        .split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { Int($0) }
    return (kb ?? 0) / 1024
}

/// Resets VmHWM to the current resident size (Linux: writing 5 to /proc/self/clear_refs), so that
/// ``peakMemoryMiB()`` reports the peak of the phase that follows.
func resetPeakMemory() {
    try? Data("5".utf8).write(to: URL(fileURLWithPath: "/proc/self/clear_refs"))
}

/// CPU seconds (user + system) of this process, plus those of its waited-for children when `children`.
func cpuSeconds(children: Bool = false) -> Double {
    func seconds(_ who: Int32) -> Double {
        var u = rusage()
        guard getrusage(who, &u) == 0 else { return 0 }
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6
    }
    return seconds(RUSAGE_SELF.rawValue) + (children ? seconds(RUSAGE_CHILDREN.rawValue) : 0)
}
