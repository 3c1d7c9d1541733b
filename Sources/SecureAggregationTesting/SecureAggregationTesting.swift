// Fakes for testing the secure-aggregation state machines: a seeded deterministic random source
// and an in-memory transport that runs whole rounds with scripted dropouts and a tamper hook.
import SecureAggregation

/// A reproducible random source: buffer i is the mask stream (ChaCha20-IETF keystream) of the
/// key BLAKE2b-256(BLAKE2b-256(label || seed) || i).
public struct SeededByteSource: RandomSource {
    private let key: [UInt8]
    private var buffer: [UInt8] = []
    private var position = 0
    private var block: UInt64 = 0

    public init(seed: UInt64) {
        var bytes = Array("segviz-secagg test rng".utf8)
        withUnsafeBytes(of: seed.littleEndian) { bytes.append(contentsOf: $0) }
        key = BLAKE2b.hash(bytes, length: .bytes32)
    }

    public mutating func bytes(_ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            if position == buffer.count {
                var input = key
                withUnsafeBytes(of: block.littleEndian) { input.append(contentsOf: $0) }
                let words = KeyDerivation.maskWords(key: SecretBytes(BLAKE2b.hash(input, length: .bytes32)), count: 1024)
                buffer = words.flatMap { w in (0 ..< 4).map { UInt8(truncatingIfNeeded: w >> (8 * $0)) } }
                block &+= 1
                position = 0
            }
            let take = min(count - out.count, buffer.count - position)
            out.append(contentsOf: buffer[position ..< position + take])
            position += take
        }
        return out
    }

    /// A uniform Float in [-1, 1).
    public mutating func nextUnitFloat() -> Float {
        let b = bytes(4)
        let w = UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
        return Float(Double(w) / 2_147_483_648.0 - 1)
    }
}

/// Where a scripted client vanishes: the first server message it does not act on.
public enum DropPoint: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// Never advertises keys (not in U1).
    case beforeAdvertising
    /// Advertised, never receives the key list (in U1, not U2).
    case afterAdvertising
    /// Shared its keys, never receives its shares (in U2, not U3).
    case afterSharing
    /// Sent its masked input, never receives the consistency request (in U3, not U4).
    case afterMasking
    /// Signed U3, never receives the unmasking request (in U4, no shares revealed).
    case duringConsistencyCheck
    /// Received the unmasking request but its response is lost.
    case duringUnmasking

    public var description: String {
        ["beforeAdvertising", "afterAdvertising", "afterSharing", "afterMasking",
         "duringConsistencyCheck", "duringUnmasking"][rawValue]
    }
}

/// An in-memory network of one server and n clients that runs a round to its end. Every message
/// travels as bytes through the public decoders. `tamper` may rewrite or drop any server -> client
/// message (a lying server); `deliverToServer` may do the same for client -> server messages.
public struct FakeNetwork {
    public let config: SecAggConfig
    public var server: SecAggServer
    public var clients: [SecAggClient?]
    public var drops: [UInt32: DropPoint]
    /// Errors clients raised (the message was refused; an aborting client stops answering).
    public var clientErrors: [UInt32: [SecAggError]] = [:]
    /// Errors the server raised on delivered messages.
    public var serverErrors: [(UInt32, SecAggError)] = []
    /// Every client -> server message as the server received it (its view).
    public var serverView: [ClientMessage] = []
    public var tamper: ((Outgoing) -> [Outgoing])?
    public var deliverToServer: ((UInt32, ClientMessage) -> [ClientMessage])?
    /// A lying server's own messages, asked for whenever the real server has nothing to send
    /// and has ended (completed or aborted); the round ends when it returns none.
    public var lateMessages: (() -> [Outgoing])?
    /// Deliver server messages to clients as values (skipping the byte decoders), as a lying
    /// server in the same process could.
    public var deliverValues = false
    private var pendingAdvertisements: [(UInt32, ClientMessage)] = []

    /// Builds the clients (identities from `identities`, seeds per user) and starts them. With
    /// `systemRandom` the clients use the production source (libsodium's randombytes) instead.
    public init(config: SecAggConfig, identities: [Identity.SigningKey], updates: [ClientUpdate],
                drops: [UInt32: DropPoint] = [:], seed: UInt64 = 1, systemRandom: Bool = false,
                randomSources: [UInt32: any RandomSource] = [:], expectedContext: [UInt8]? = nil) throws {
        self.config = config
        server = SecAggServer(config: config)
        self.drops = drops
        clients = []
        for (i, update) in updates.enumerated() {
            let id = UInt32(i)
            if drops[id] == .beforeAdvertising {
                clients.append(nil)
                continue
            }
            let random: any RandomSource = randomSources[id]
                ?? (systemRandom ? SystemRandom() : SeededByteSource(seed: Self.clientSeed(network: seed, user: id)))
            let (client, ad) = try SecAggClient.start(config: config, id: id, identity: identities[i], update: update,
                                                      random: random, expectedContext: expectedContext ?? config.boundContext)
            clients.append(client)
            pendingAdvertisements.append((id, ad))
        }
    }

    private func dropsBefore(_ m: ServerMessage, _ u: UInt32) -> Bool {
        guard let d = drops[u] else { return false }
        switch m {
        case .keyList: return d == .afterAdvertising
        case .shareBundle: return d == .afterSharing
        case .consistencyRequest: return d == .afterMasking
        case .unmaskingRequest: return d == .duringConsistencyCheck
        case .roundFinished: return d.rawValue <= DropPoint.duringUnmasking.rawValue
        }
    }

    /// Runs until the server completes or aborts. Phases the clients leave open are closed as if
    /// their deadline passed.
    public mutating func run() -> AggregateResult? {
        var toServer = pendingAdvertisements
        pendingAdvertisements = []
        var toClients: [Outgoing] = []
        while true {
            for (u, m) in toServer {
                let delivered = deliverToServer?(u, m) ?? [m]
                for d in delivered {
                    do {
                        let decoded = try ClientMessage.decode(d.encode())
                        serverView.append(decoded)
                        toClients += try server.receive(bytes: decoded.encode(), from: u)
                    } catch let e as SecAggError {
                        serverErrors.append((u, e))
                    } catch {
                        preconditionFailure("\(error)")
                    }
                }
            }
            toServer = []
            if toClients.isEmpty {
                switch server.state {
                case .completed, .aborted:
                    toClients = lateMessages?() ?? []
                    if toClients.isEmpty { return server.result }
                default: toClients = server.closePhase()
                }
                if toClients.isEmpty { continue }
            }
            let batch = toClients.flatMap { tamper?($0) ?? [$0] }
            toClients = []
            for o in batch {
                let u = o.recipient
                guard Int(u) < clients.count, var client = clients[Int(u)], !dropsBefore(o.message, u) else { continue }
                do {
                    let replies = deliverValues ? try client.receive(o.message)
                        : try client.receive(bytes: o.message.encode()).map { try ClientMessage.decode($0) }
                    clients[Int(u)] = client
                    if drops[u] == .duringUnmasking, case .unmaskingRequest = o.message { continue }
                    for r in replies { toServer.append((u, r)) }
                } catch let e as SecAggError {
                    clients[Int(u)] = client
                    clientErrors[u, default: []].append(e)
                } catch {
                    preconditionFailure("\(error)")
                }
            }
        }
    }

    /// The seed of user `user`'s `SeededByteSource` in a network built with `seed`.
    public static func clientSeed(network seed: UInt64, user: UInt32) -> UInt64 {
        seed &* 1_000_003 &+ UInt64(user)
    }

    /// Convenience: n fresh identities from a seed.
    public static func identities(count: Int, seed: UInt64 = 7) -> [Identity.SigningKey] {
        var rng = SeededByteSource(seed: seed)
        return (0 ..< count).map { _ in Identity.SigningKey(using: &rng) }
    }
}
