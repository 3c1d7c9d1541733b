// Fuzz targets of the secure-aggregation wire format and state machines: every client and server message
// decoder, and whole rounds in which one recorded message is replaced by fuzzed bytes.
import Foundation
@testable import Federation
import SecureAggregation
import SecureAggregationTesting

let secureAggregationTargets: [FuzzTarget] = [
    FuzzTarget(name: "secagg-client-message", seeds: { recordedRound.messages.filter { !$0.toClient }.map(\.bytes) }) { bytes in
        guard let m = try? ClientMessage.decode(bytes) else { return }
        fuzzInvariant((try? ClientMessage.decode(m.encode())) == m, "client message does not round-trip")
        fuzzInvariant(m.encode() == bytes, "client message has a second encoding")
    },
    FuzzTarget(name: "secagg-server-message", seeds: { recordedRound.messages.filter(\.toClient).map(\.bytes) }) { bytes in
        guard let m = try? ServerMessage.decode(bytes) else { return }
        fuzzInvariant((try? ServerMessage.decode(m.encode())) == m, "server message does not round-trip")
        fuzzInvariant(m.encode() == bytes, "server message has a second encoding")
    },
    FuzzTarget(name: "secagg-round", seeds: {
        recordedRound.messages.enumerated().map { i, m in [UInt8(i & 0xff), UInt8(i >> 8)] + m.bytes }
    }) { bytes in
        guard bytes.count >= 2 else { return }
        let index = (Int(bytes[0]) | Int(bytes[1]) << 8) % recordedRound.messages.count
        let outcome = recordedRound.replay(replacing: index, with: Array(bytes.dropFirst(2)))
        if let result = outcome {
            fuzzInvariant(result.survivors.count >= recordedRound.config.threshold, "a round completed below threshold")
        }
    },
]

/// One protocol message as it crossed the (in-memory) network.
struct RecordedMessage {
    /// True for server -> client.
    let toClient: Bool
    /// The client it came from or went to.
    let party: UInt32
    let bytes: [UInt8]
}

/// A deterministic round among the fixture federation's three nodes (their identity keys, threshold 2, eight
/// parameters), with every message recorded in delivery order.
struct RecordedRound {
    let config: SecAggConfig
    let identities: [Identity.SigningKey]
    let updates: [ClientUpdate]
    private(set) var messages: [RecordedMessage] = []

    init() {
        identities = Fixtures.keys.nodes.map(\.signingKey)
        let layout = try! VectorLayout(blocks: [Block(name: "core", offset: 0, count: 6), Block(name: "head", offset: 6, count: 2)])
        config = try! SecAggConfig(round: 1, roster: identities.map(\.publicKey), threshold: 2, layout: layout,
                                   quantisation: Quantisation(clip: 1, levels: 1000, maxWeight: 4),
                                   publicSeed: [UInt8](repeating: 9, count: 32))
        updates = (0..<3).map { (u: Int) -> ClientUpdate in
            let values: [Float] = (0..<8).map { (i: Int) -> Float in Float(i - u) / 10 }
            let head: UInt32 = u == 1 ? 0 : 2
            return ClientUpdate(values: values, blockWeights: [UInt32(1 + u), head])
        }
        var log: [RecordedMessage] = []
        let result = run(replacing: nil, with: []) { log.append($0) }
        precondition(result != nil, "the recorded round must complete")
        messages = log
    }

    /// Replays the round with message `index` replaced by `substitute`; returns the result if it completes.
    func replay(replacing index: Int, with substitute: [UInt8]) -> AggregateResult? {
        run(replacing: index, with: substitute) { _ in }
    }

    private func run(replacing index: Int?, with substitute: [UInt8], record: (RecordedMessage) -> Void) -> AggregateResult? {
        var server = SecAggServer(config: config)
        var clients: [SecAggClient] = []
        var toServer: [(UInt32, [UInt8])] = []
        for u in 0..<3 {
            let (c, ad) = try! SecAggClient.start(config: config, id: UInt32(u), identity: identities[u], update: updates[u],
                                                  random: SeededRandom(seed: 40 + UInt64(u)))
            clients.append(c)
            toServer.append((UInt32(u), ad.encode()))
        }
        var counter = 0
        func deliver(_ m: RecordedMessage) -> [UInt8] {
            defer { counter += 1 }
            let bytes = counter == index ? substitute : m.bytes
            record(RecordedMessage(toClient: m.toClient, party: m.party, bytes: bytes))
            return bytes
        }
        for _ in 0..<32 {
            var toClients: [Outgoing] = []
            for (u, m) in toServer {
                let bytes = deliver(RecordedMessage(toClient: false, party: u, bytes: m))
                toClients += (try? server.receive(bytes: bytes, from: u)) ?? []
            }
            toServer = []
            if toClients.isEmpty {
                switch server.state {
                case .completed, .aborted: return server.result
                default: toClients = server.closePhase()
                }
            }
            for o in toClients where Int(o.recipient) < clients.count {
                let bytes = deliver(RecordedMessage(toClient: true, party: o.recipient, bytes: o.message.encode()))
                for reply in (try? clients[Int(o.recipient)].receive(bytes: bytes)) ?? [] { toServer.append((o.recipient, reply)) }
            }
        }
        return server.result
    }
}

let recordedRound = RecordedRound()
