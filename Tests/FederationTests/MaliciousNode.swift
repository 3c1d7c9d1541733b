import Foundation
import SecureAggregation
@testable import Federation

/// Attacker code for issue 20's tests: a node that holds its real key and takes part in secure aggregation as
/// the honest node does (signed requests, the round's configuration bound to the announced global model, real
/// keys, shares and masked input), but never sends its ``PrivacyAttestation``: under `privacy` it tries to get
/// an update into the global model without stating that its spent epsilon is within the budget. It skips the
/// rest of an honest node's duties too (no training, no durable memory): only the protocol messages matter here.
struct MaliciousNode {
    let federation: FederationFile
    let id: String
    let key: IdentityKey
    /// Added to every value of the global model: the update it sends.
    let delta: Float
    let log: @Sendable (String) -> Void

    /// Why the attacker did not get to send anything.
    struct NoRound: Error, CustomStringConvertible {
        let description: String
    }

    /// Waits (up to `timeout` seconds) for the aggregator to announce a round's AdvertiseKeys, then runs that
    /// round's secure aggregation without attesting. Returns whether that round completed with this node's
    /// update in it; throws the aggregator's refusal (``AggregatorClient/HTTPFailure``) of one of its messages.
    func takePartWithoutAttesting(timeout: Double = 60) async throws -> Bool {
        guard let index = federation.nodes.firstIndex(where: { $0.id == id }) else {
            throw NoRound(description: "\(id) is not a node of the federation")
        }
        let client = try AggregatorClient(baseURL: federation.aggregator.url, node: id, key: key,
                                          audience: try RequestAuth.Audience(federation),
                                          pinnedCertificatePEM: federation.aggregator.tlsCertificate)
        do {
            let result = try await run(client: client, index: index, until: Date().addingTimeInterval(timeout))
            await client.shutdown()
            return result
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// The first announcement of a round in AdvertiseKeys (the aggregator may not be listening yet).
    private func announcement(client: AggregatorClient, until: Date) async throws -> RoundAnnouncement {
        while Date() < until {
            if let a = try? await client.status(), a.phase == .advertiseKeys { return a }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        throw NoRound(description: "no round reached AdvertiseKeys in time")
    }

    private func run(client: AggregatorClient, index: Int, until: Date) async throws -> Bool {
        let a = try await announcement(client: client, until: until)
        let file = try await client.model()
        let hash = FedCrypto.blake2b256(file.bytes)
        var global = FederatedModel(strategy: federation.strategy, organs: federation.organNames,
                                    network: federation.network, seed: 0)
        try ModelArtifact.load(bytes: file.bytes, into: &global, path: "global model round \(a.modelRound)")
        let config = try RoundSetup.config(federation: federation, model: global, announcement: a,
                                           verifiedModelRound: a.modelRound, verifiedModelHash: hash)
        let expected = RoundContext(federation, round: a.round, modelRound: a.modelRound, modelHash: hash).binding
        let samples = 10, organs = federation.nodes[index].organs
        let update = ClientUpdate(values: [Float](repeating: delta, count: global.values.count)
                                      + (try ValidationVector.elements(federation: federation, scores: nil, samples: samples)),
                                  blockWeights: ValidationVector.blockWeights(federation: federation, model: global,
                                                                              organs: organs, samples: samples))
        log("round \(a.round): attack: sending a masked input without a privacy attestation")
        // Where the honest node calls `attestPrivacy` first, this one goes straight to the protocol.
        return try await client.secureAggregation(round: a.round, session: a.session, config: config, expectedContext: expected,
                                                  index: UInt32(index), identity: key.signingKey, update: update).isCompleted
    }
}
