import Foundation

/// How a node's update is weighted in the round's mean (the federation file's `weighting`).
///
/// - `samples`: by its training cases (FedAvg, McMahan et al. 2017).
/// - `organ-balanced`: by its training cases times a factor that gives the nodes annotating a rarely annotated
///   organ as much weight together as those of a common one. With two liver nodes and one spleen node, the
///   spleen node weighs as much as both liver nodes together (factors 1, 2, 1), so each round's mean carries
///   its spleen update at half, not a third. The factors come from the federation file alone (which node
///   annotates which organ), so every node and the aggregator derive the same ones and no count leaves a node.
public enum Weighting: String, Codable, CaseIterable, Equatable, Sendable {
    /// By training cases.
    case samples
    /// By training cases times ``organFactors(nodeOrgans:)``.
    case organBalanced = "organ-balanced"

    /// The weighting a federation file without the field means.
    public static let `default`: Weighting = .samples

    /// Above this least common multiple the factors are rounded (see ``organFactors(nodeOrgans:)``).
    static let largestExactMultiple = 360

    /// Each node's whole-number factor under organ balance: `L / c` with `c` the number of nodes annotating the
    /// node's most rarely annotated organ and `L` the least common multiple of those counts (rounded as
    /// `360 / c`, at least 1, when `L` would exceed 360). Nodes annotating nothing get 1.
    public static func organFactors(nodeOrgans: [[String]]) -> [Int] {
        let (count, l) = balance(nodeOrgans)
        return nodeOrgans.map { factor(organs: $0, count: count, multiple: l) }
    }

    /// The factors of nodes annotating `nodeOrgans` under this weighting (all 1 for `samples`).
    public func factors(nodeOrgans: [[String]]) -> [Int] {
        self == .samples ? nodeOrgans.map { _ in 1 } : Weighting.organFactors(nodeOrgans: nodeOrgans)
    }

    /// The factor of a node annotating `organs` in `f` under this weighting (1 for `samples`).
    public func factor(federation f: FederationFile, organs: [String]) -> Int {
        switch self {
        case .samples: return 1
        case .organBalanced:
            let (count, l) = Weighting.balance(f.nodes.map(\.organs))
            return Weighting.factor(organs: organs, count: count, multiple: l)
        }
    }

    /// How many nodes annotate each organ, and the least common multiple of the nodes' rarest-organ counts (nil:
    /// above ``largestExactMultiple``, so factors are rounded).
    static func balance(_ nodeOrgans: [[String]]) -> (count: [String: Int], multiple: Int?) {
        var count: [String: Int] = [:]
        for organs in nodeOrgans { for o in Set(organs) { count[o, default: 0] += 1 } }
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
        var l = 1
        for c in Set(nodeOrgans.map { rarest($0, count) }) {
            l = l / gcd(l, c) * c
            if l > largestExactMultiple { return (count, nil) }
        }
        return (count, l)
    }

    static func rarest(_ organs: [String], _ count: [String: Int]) -> Int { organs.compactMap { count[$0] }.min() ?? 1 }

    static func factor(organs: [String], count: [String: Int], multiple: Int?) -> Int {
        let c = rarest(organs, count)
        guard let multiple else { return max(1, Int((Double(largestExactMultiple) / Double(c)).rounded())) }
        return multiple / c
    }
}

extension FederationFile {
    /// The weighting in force: `weighting`, or ``Weighting/default`` (by samples) when the file has none.
    public var effectiveWeighting: Weighting { weighting ?? .default }
}

extension FederationSchema {
    /// The optional `weighting` field (absent: by samples, and the file's fingerprint is what it was before the
    /// field existed).
    static let weightingField = opt("weighting", str(Weighting.allCases.map(\.rawValue)), nil,
        "How each node's update is weighted in the mean: samples (its training cases; absent means this) or organ-balanced (cases times a factor from the file's organs, so that the nodes of a rarely annotated organ weigh as much together as those of a common one).")
}
