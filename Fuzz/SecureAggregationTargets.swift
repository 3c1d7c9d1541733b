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
    FuzzTarget(name: "secagg-config", seeds: { [[0x3f, 0x15, 2, 0], [0xff, 0xff, 4, 1], [0x0b, 0x0d, 3, 7]] }) { bytes in
        // Bytes -> a block map of up to 6 users x 4 blocks (one bit each), a threshold, the tolerance and a
        // context byte. A configuration either is refused with a SecAggError or keeps every promise: the
        // threshold floor, no block below the minimum of contributors, and no weight that an attacker's
        // independent solver derives from the released sums.
        guard bytes.count >= 4 else { return }
        let users = 2 + Int(bytes[2] % 5), blocks = 1 + Int(bytes[3] % 4)
        var bits = bytes.dropFirst(4).flatMap { b in (0 ..< 8).map { b >> $0 & 1 == 1 } }
        if bits.isEmpty { bits = [true] }
        let map = (0 ..< users).map { u in (0 ..< blocks).map { b in bits[(u * blocks + b) % bits.count] } }
        let tolerance: CollusionTolerance = bytes[1] & 1 == 0 ? .colludingClients : .none
        let threshold: Int? = bytes[0] == 0 ? nil : Int(bytes[0] % UInt8(users + 1))
        let layout = try! VectorLayout(blocks: (0 ..< blocks).map { Block(name: "b\($0)", offset: $0 * 2, count: 2) })
        let config: SecAggConfig
        do {
            config = try SecAggConfig(round: 1, roster: Array(fuzzIdentities.prefix(users)), threshold: threshold, layout: layout,
                                      quantisation: Quantisation(clip: 1, levels: 100, maxWeight: 4), blockMap: map,
                                      collusionTolerance: tolerance, boundContext: [UInt8](repeating: bytes[1], count: 32))
        } catch is SecAggError {
            return
        } catch {
            fuzzInvariant(false, "configuration threw a non-SecAggError \(error)")
            return
        }
        fuzzInvariant(config.threshold >= tolerance.minimumThreshold(holders: users), "threshold below the floor")
        var members: [[UInt32]] = []
        for b in 0 ..< blocks {
            let m = (0 ..< users).filter { map[$0][b] }.map { UInt32($0) }
            fuzzInvariant(m.isEmpty || m.count >= 2, "a block with a single contributor was accepted")
            members.append(m)
        }
        let solved = Attack.solveWeights(members: members, sums: members.map { UInt64($0.count) }, users: users)
        let contributing = Set(members.joined())
        fuzzInvariant(solved.keys.allSatisfy { !contributing.contains($0) }, "a configuration discloses a weight: \(solved)")
    },
    FuzzTarget(name: "secagg-round", seeds: {
        recordedRound.messages.enumerated().map { i, m in [UInt8(i & 0xff), UInt8(i >> 8)] + m.bytes }
    }) { bytes in
        guard bytes.count >= 2 else { return }
        let index = (Int(bytes[0]) | Int(bytes[1]) << 8) % recordedRound.messages.count
        let outcome = recordedRound.replay(replacing: index, with: Array(bytes.dropFirst(2)))
        if let result = outcome {
            fuzzInvariant(result.survivors.count >= recordedRound.config.threshold, "a round completed below threshold")
            // A fuzzed unmasking response (a forged share) is detected or harmless: never a wrong result.
            let original = recordedRound.messages[index]
            if !original.toClient, original.bytes.count > 1, original.bytes[1] == UnmaskingResponseMessage.typeCode,
               result.survivors == recordedRound.reference.survivors {
                fuzzInvariant(result.weightedSums == recordedRound.reference.weightedSums
                              && result.blockWeights == recordedRound.reference.blockWeights,
                              "a forged share changed a completed result")
            }
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
    /// The unfuzzed round's result.
    private(set) var reference: AggregateResult!

    init() {
        identities = Fixtures.keys.nodes.map(\.signingKey)
        let layout = try! VectorLayout(blocks: [Block(name: "core", offset: 0, count: 6), Block(name: "head", offset: 6, count: 2)])
        // Threshold 2 of 3 (below the colluding-nodes default of 3, chosen explicitly) so that replays in which
        // one node's message is lost can still complete. Every node contributes to both blocks: with 3 nodes, two
        // different contributor sets of 2 or more would disclose a weight (refused by the configuration).
        config = try! SecAggConfig(round: 1, roster: identities.map(\.publicKey), threshold: 2, layout: layout,
                                   quantisation: Quantisation(clip: 1, levels: 1000, maxWeight: 4),
                                   publicSeed: [UInt8](repeating: 9, count: 32), collusionTolerance: .none,
                                   boundContext: [UInt8](repeating: 7, count: 32))
        updates = (0..<3).map { (u: Int) -> ClientUpdate in
            let values: [Float] = (0..<8).map { (i: Int) -> Float in Float(i - u) / 10 }
            return ClientUpdate(values: values, blockWeights: [UInt32(1 + u), UInt32(1 + u)])
        }
        var log: [RecordedMessage] = []
        let result = run(replacing: nil, with: []) { log.append($0) }
        precondition(result != nil, "the recorded round must complete")
        messages = log
        reference = result
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
                                                  random: SeededByteSource(seed: 40 + UInt64(u)), expectedContext: config.boundContext)
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

/// Six identity public keys for configuration fuzzing.
let fuzzIdentities: [Identity.PublicKey] = FakeNetwork.identities(count: 6, seed: 5).map(\.publicKey)
