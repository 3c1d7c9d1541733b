import Foundation
import SecureAggregation
import Testing
@testable import Federation

/// The federation file's secure-aggregation threshold: at least floor(2n/3) + 1 unless the file states
/// `collusionTolerance: none`; the round configuration signs the block map the organs imply.
@Suite struct CollusionToleranceTests {
    static func federation(nodes: Int, keys: [IdentityKey]? = nil) -> FederationFile {
        let keys = keys ?? (0 ... nodes).map { _ in IdentityKey.generate() }
        return FederationSetup.defaultFederation(name: "t", aggregatorKey: keys[0].publicKey, url: "http://127.0.0.1:1", nodes: (0 ..< nodes).map {
            (.init(id: "node\($0)", organs: $0 % 2 == 0 ? ["liver"] : ["spleen"]), keys[$0 + 1].publicKey)
        })
    }

    @Test func weakerThresholdsNeedTheExplicitChoice() throws {
        var f = Self.federation(nodes: 5)
        #expect(f.secureAggregation.threshold == 4)
        try f.validate()
        f.secureAggregation.threshold = 3  // more than half of 5, but below floor(10/3) + 1
        #expect { try f.validate() } throws: { e in
            let text = "\(e)"
            return text.contains("secureAggregation.threshold") && text.contains("collusionTolerance")
        }
        f.secureAggregation.collusionTolerance = CollusionTolerance.none
        try f.validate()
        // A file written before the field existed decodes with the safe default.
        var json = try #require(try JSONSerialization.jsonObject(with: Self.federation(nodes: 5).encoded()) as? [String: Any])
        var sa = try #require(json["secureAggregation"] as? [String: Any])
        sa.removeValue(forKey: "collusionTolerance")
        json["secureAggregation"] = sa
        let old = try FederationFile.decode(try JSONSerialization.data(withJSONObject: json))
        #expect(old.secureAggregation.collusionTolerance == .colludingClients && old.secureAggregation.threshold == 4)
    }

    @Test func roundConfigurationSignsTheOrgansBlockMap() throws {
        let keys = (0 ... 4).map { _ in IdentityKey.generate() }
        var f = Self.federation(nodes: 4, keys: keys)
        f.strategy = .heads
        f.network = .init(channels: [4, 8], strides: [2], numResUnits: 1, norm: "batch")
        let model = FederatedModel(strategy: .heads, organs: f.organNames, network: f.network, seed: 1)
        let config = try RoundSetup.config(federation: f, model: model, context: RoundContext(f, round: 1, modelRound: 0, modelHash: [UInt8](repeating: 0, count: 32)), session: [UInt8](repeating: 1, count: 32))
        for (b, e) in model.entries.enumerated() {
            for (u, node) in f.nodes.enumerated() {
                #expect(config.blockMap[u][b] == (e.organ.map { node.organs.contains($0) } ?? true))
            }
        }
        #expect(config.threshold == 3 && config.collusionTolerance == .colludingClients)
        // The node's weights agree with the signed map, so its client starts.
        let node = f.nodes[1]
        let update = ClientUpdate(values: [Float](repeating: 0, count: model.values.count),
                                  blockWeights: RoundSetup.blockWeights(model: model, organs: node.organs, samples: 5))
        #expect(throws: Never.self) {
            _ = try SecAggClient.start(config: config, id: 1, identity: keys[2].signingKey, update: update,
                                       expectedContext: RoundContext(f, round: 1, modelRound: 0, modelHash: [UInt8](repeating: 0, count: 32)).binding)
        }
    }
}
