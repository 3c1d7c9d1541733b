import Foundation

/// "; about 3 min left in this round's training": the time a long step still needs, from the mean time of the
/// parts done so far (epochs, rounds, experiment setups).
public enum TimeLeft {
    /// Empty when nothing is left or nothing is done yet.
    public static func text(elapsed: Double, done: Int, total: Int, of step: String) -> String {
        guard done > 0, total > done, elapsed > 0 else { return "" }
        let left = elapsed / Double(done) * Double(total - done)
        return "; about \(duration(left)) left in \(step)"
    }

    /// "42 s", "3 min", "1 h 05 min".
    public static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        if t < 90 { return "\(t) s" }
        if t < 5400 { return "\(Int((s / 60).rounded())) min" }
        return String(format: "%d h %02d min", t / 3600, (t % 3600) / 60)
    }
}
