import Foundation
import Tensor
import Testing
@testable import Federation

/// `weighting` (``Weighting``): the organ-balanced factors, worked out by hand, and the property that defines
/// them (single-organ nodes of equal size: every organ's nodes weigh the same together); the federation
/// file's field, its absence, its errors, the node's block weights and the model manifest.
@Suite struct WeightingTests {
    @Test func factorsWorkedOutByHand() {
        // Two liver nodes, one spleen node: the spleen node weighs as much as both liver nodes.
        #expect(Weighting.organFactors(nodeOrgans: [["liver"], ["spleen"], ["liver"]]) == [1, 2, 1])
        // Balanced already: nothing changes.
        #expect(Weighting.organFactors(nodeOrgans: [["liver"], ["spleen"], ["liver"], ["spleen"]]) == [1, 1, 1, 1])
        // A node annotating both organs takes the factor of its rarer one (spleen: 1 node; liver: 3).
        #expect(Weighting.organFactors(nodeOrgans: [["liver", "spleen"], ["liver"], ["liver"]]) == [3, 1, 1])
        // Counts 3 and 2: least common multiple 6.
        #expect(Weighting.organFactors(nodeOrgans: [["liver"], ["liver"], ["liver"], ["spleen"], ["spleen"]]) == [2, 2, 2, 3, 3])
        // Rarest counts 7, 11 and 13 (lcm 1001 > 360): rounded 360/c.
        let many = Array(repeating: ["a"], count: 7) + Array(repeating: ["b"], count: 11) + Array(repeating: ["c"], count: 13)
        #expect(Set(Weighting.organFactors(nodeOrgans: many)) == [51, 33, 28])
    }

    @Test func everyOrgansNodesWeighTheSameTogether() {
        var rng = SplitMix(seed: 42)
        for _ in 0..<200 {
            let organs = ["liver", "spleen", "kidney"].prefix(Int(rng.next() % 3) + 1)
            let n = Int(rng.next() % 12) + 1
            let nodes = (0..<n).map { _ in [organs[Int(rng.next() % UInt64(organs.count))]] }
            let f = Weighting.organFactors(nodeOrgans: nodes)
            let totals = Set(organs.compactMap { o -> Int? in
                let members = nodes.indices.filter { nodes[$0] == [o] }
                return members.isEmpty ? nil : members.reduce(0) { $0 + f[$1] }
            })
            #expect(totals.count == 1, "nodes \(nodes) factors \(f)")
        }
    }

    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    func file(_ extra: String) throws -> (FederationFile?, [FederationProblem]) {
        try ServerOptimizerConfigTests.file(extra, nodes: [.init(id: "a", organs: ["liver"]), .init(id: "b", organs: ["spleen"]),
                                                           .init(id: "c", organs: ["liver"])])
    }

    @Test func absentMeansSamplesAndLeavesTheFingerprintAlone() throws {
        let (f, problems) = try file("")
        #expect(problems.isEmpty)
        #expect(f?.weighting == nil && f?.effectiveWeighting == .samples)
        #expect(f.map { !$0.canonicalText().contains("weighting") } == true)
    }

    @Test func aBadWeightingNamesTheField() throws {
        let (_, problems) = try file(", \"weighting\": \"by-organ\"")
        #expect(problems.map(\.field) == ["weighting"])
    }

    @Test func theNodesBlockWeightsCarryTheFactor() throws {
        let (read, problems) = try file(", \"weighting\": \"organ-balanced\"")
        #expect(problems.isEmpty)
        let f = try #require(read)
        #expect(f.effectiveWeighting == .organBalanced)
        let model = FederatedModel(strategy: .single, organs: f.organNames, network: .init(channels: [2, 4], strides: [2], numResUnits: 1, norm: "instance"), seed: 1)
        let spleen = ValidationVector.blockWeights(federation: f, model: model, organs: ["spleen"], samples: 6)
        let liver = ValidationVector.blockWeights(federation: f, model: model, organs: ["liver"], samples: 6)
        #expect(Set(spleen) == [12] && Set(liver) == [6])
        var plain = f
        plain.weighting = nil
        #expect(Set(ValidationVector.blockWeights(federation: plain, model: model, organs: ["spleen"], samples: 6)) == [6])
        let bytes = ModelArtifact.encode(model: model, federation: f, round: 1, participants: [], previousModelHash: "",
                                         previousRecordHash: "")
        #expect(try SafetensorsFile.decode(bytes).metadata["weighting"] == "organ-balanced")
        let plainBytes = ModelArtifact.encode(model: model, federation: plain, round: 1, participants: [], previousModelHash: "",
                                              previousRecordHash: "")
        #expect(try SafetensorsFile.decode(plainBytes).metadata["weighting"] == nil)
    }
}
