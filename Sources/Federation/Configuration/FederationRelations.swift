import Foundation
import SecureAggregation

extension FederationValidator {
    /// What the values imply together (beyond JSON Schema): labels and organs, keys, the pinned certificate, the
    /// network against the patch, the window's order, and the secure-aggregation settings against the node
    /// count, exactly as the protocol's own configuration check would refuse them at round 1.
    static func relations(_ f: FederationFile) -> [FederationProblem] {
        var p: [FederationProblem] = []
        if f.labels["0"] == nil { p.append(.missingField(field: "labels.0")) }
        let organs = f.organNames
        for o in Set(organs) where organs.filter({ $0 == o }).count > 1 { p.append(.duplicate(field: "labels", value: o)) }
        var ids = Set<String>(), keys = Set<String>()
        for (i, n) in f.nodes.enumerated() {
            if !ids.insert(n.id).inserted || n.id == f.aggregator.id { p.append(.duplicate(field: "nodes.\(i).id", value: n.id)) }
            if !keys.insert(n.publicKey).inserted { p.append(.duplicate(field: "nodes.\(i).publicKey", value: n.id)) }
            for o in n.organs where !organs.contains(o) { p.append(.unknownOrgan(field: "nodes.\(i).organs", organ: o, known: organs)) }
            do throws(Minisign.FormatError) { _ = try Minisign.PublicKey(text: n.publicKey) } catch {
                p.append(.invalidKey(field: "nodes.\(i).publicKey", problem: error))
            }
        }
        do throws(Minisign.FormatError) { _ = try Minisign.PublicKey(text: f.aggregator.publicKey) } catch {
            p.append(.invalidKey(field: "aggregator.publicKey", problem: error))
        }
        if f.aggregator.url.hasPrefix("https://"), f.aggregator.tlsCertificate == nil { p.append(.httpsNeedsPinnedCertificate) }
        let net = f.network
        if net.strides.count != net.channels.count - 1 {
            p.append(.stridesCount(strides: net.strides.count, channels: net.channels.count))
        } else {
            let total = net.strides.reduce(1, *)
            if f.training.patch.contains(where: { $0 % total != 0 }) {
                p.append(.patchNotDivisible(patch: f.training.patch, totalStride: total))
            }
        }
        if f.training.window.count == 2, !(f.training.window[0] < f.training.window[1]) {
            p.append(.windowNotOrdered(low: f.training.window[0], high: f.training.window[1]))
        }
        p += secureAggregation(f)
        p += privacy(f)
        return p
    }

    /// Threshold, neighbours and block contributors, checked by building the protocol's configuration for a
    /// model of the file's strategy (one block for the core, one per organ head) with every node present.
    static func secureAggregation(_ f: FederationFile) -> [FederationProblem] {
        let s = f.secureAggregation, n = f.nodes.count
        guard n >= 2 else { return [] }  // the node count itself is reported
        var holders = n
        if let k = s.neighbours, k < n - 1 {
            if k % 2 == 1 && n % 2 == 1 {
                return [.secureAggregation(field: "secureAggregation.neighbours",
                                           reason: "an odd neighbourhood size \(k) needs an even number of nodes, have \(n)")]
            }
            holders = k + 1
        }
        let tol = s.collusionTolerance
        let minimum = tol.minimumThreshold(holders: holders)
        if s.threshold < minimum || s.threshold > holders {
            return [.threshold(value: s.threshold, minimum: minimum, maximum: holders, holders: holders, tolerance: tol.rawValue)]
        }
        guard let roster = try? RoundSetup.roster(f), Set(roster).count == n else { return [] }  // key problems are reported above
        var blocks = [Block(name: "core", offset: 0, count: 1)]
        var map = f.nodes.map { _ in [true] }
        if f.strategy == .heads {
            for (i, organ) in f.organNames.enumerated() {
                blocks.append(Block(name: "head '\(organ)'", offset: i + 1, count: 1))
                for j in f.nodes.indices { map[j].append(f.nodes[j].organs.contains(organ)) }
            }
        }
        do {
            let q = try Quantisation(clip: Float(s.clip), levels: Quantisation.maximumLevels(clients: n, maxWeight: RoundSetup.maximumWeight),
                                     maxWeight: RoundSetup.maximumWeight)
            _ = try SecAggConfig(round: 1, roster: roster, threshold: s.threshold, layout: try VectorLayout(blocks: blocks),
                                 quantisation: q, neighbours: s.neighbours, allowSmallBlocks: s.allowSingleContributorBlocks,
                                 blockMap: map, collusionTolerance: tol)
        } catch SecAggError.tooFewContributors(let block, let c) {
            return [.tooFewContributors(block: block, contributors: c)]
        } catch SecAggError.weightDisclosed(let u) {
            return [.weightDisclosed(node: Int(u) < n ? f.nodes[Int(u)].id : "\(u)")]
        } catch SecAggError.invalidConfiguration(let parameter, let reason) {
            return [.secureAggregation(field: "secureAggregation.\(parameter)", reason: reason)]
        } catch {
            return [.secureAggregation(field: "secureAggregation", reason: "\(error)")]
        }
        return []
    }
}
