import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import SecureAggregation
import Tensor

/// A node's connection to the aggregator: every request is signed with the node's identity key
/// (see ``RequestAuth``); bodies are binary.
public final class AggregatorClient: Sendable {
    /// An answer other than success.
    public struct HTTPFailure: Error, CustomStringConvertible {
        /// HTTP status.
        public let status: Int
        /// Body text (the server's reason).
        public let message: String
        public var description: String { "aggregator answered \(status): \(message)" }
    }

    let base: String
    let node: String
    let key: IdentityKey
    let audience: RequestAuth.Audience
    let http: HTTPClient
    let maxResponseBytes: Int

    /// Connects (lazily) to `baseURL` as node `node`; every request is signed for `audience` (the federation
    /// and its aggregator's key), so no other aggregator can replay it. With `pinnedCertificatePEM`, TLS trusts exactly that
    /// certificate (the federation file's pin) and no system root.
    public init(baseURL: String, node: String, key: IdentityKey, audience: RequestAuth.Audience, pinnedCertificatePEM: String? = nil,
                maxResponseBytes: Int = 512 << 20) throws {
        base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.node = node
        self.key = key
        self.audience = audience
        var config = HTTPClient.Configuration()
        if let pem = pinnedCertificatePEM {
            let certs: [NIOSSLCertificate]
            do { certs = try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)) } catch {
                throw FederationError.invalidCertificate(source: "aggregator.tlsCertificate", reason: "\(error)")
            }
            guard !certs.isEmpty else {
                throw FederationError.invalidCertificate(source: "aggregator.tlsCertificate", reason: "no certificate in the PEM text")
            }
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(certs)
            tls.certificateVerification = .noHostnameVerification
            config.tlsConfiguration = tls
        }
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        self.maxResponseBytes = maxResponseBytes
    }

    /// Closes connections.
    public func shutdown() async { try? await http.shutdown() }

    /// An HTTP answer: status code and body.
    struct Reply {
        /// HTTP status code.
        let status: Int
        /// Response body (up to the client's limit).
        let body: [UInt8]
    }

    /// Sends a signed request; returns status and body.
    func send(_ method: HTTPMethod, _ path: String, body: [UInt8] = [], timeout: TimeInterval = 60) async throws -> Reply {
        try await sendOnce(method, path, body: body, timeout: timeout)
    }

    private func sendOnce(_ method: HTTPMethod, _ path: String, body: [UInt8], timeout: TimeInterval) async throws -> Reply {
        var req = HTTPClientRequest(url: base + path)
        req.method = method
        for (k, v) in RequestAuth.headers(audience: audience, method: method.rawValue, path: path, body: body, node: node, key: key) {
            req.headers.add(name: k, value: v)
        }
        if !body.isEmpty {
            req.headers.add(name: "Content-Type", value: "application/octet-stream")
            req.body = .bytes(ByteBuffer(bytes: body))
        }
        let resp = try await http.execute(req, timeout: .milliseconds(Int64(timeout * 1000)))
        let buf = try await resp.body.collect(upTo: maxResponseBytes)
        return Reply(status: Int(resp.status.code), body: Array(buf.readableBytesView))
    }

    func expectOK(_ r: Reply) throws -> [UInt8] {
        guard (200..<300).contains(r.status) else {
            throw HTTPFailure(status: r.status, message: Self.errorMessage(r.body))
        }
        return r.body
    }

    /// The server's reason from an error body: the message of Hummingbird's `{"error":{"message":...}}`
    /// (unescaped), else the text itself, at most 500 characters.
    static func errorMessage(_ body: [UInt8]) -> String {
        struct Wrapped: Decodable { struct Inner: Decodable { let message: String }; let error: Inner }
        if let w = try? JSONDecoder().decode(Wrapped.self, from: Data(body)) { return String(w.error.message.prefix(500)) }
        return String(decoding: body.prefix(500), as: UTF8.self)
    }

    /// The current round's announcement.
    public func status() async throws -> RoundAnnouncement {
        let b = try expectOK(try await send(.GET, "/v1/status", timeout: 30))
        do { return try JSONDecoder().decode(RoundAnnouncement.self, from: Data(b)) } catch {
            throw HTTPFailure(status: 200, message: "malformed status: \(error)")
        }
    }

    /// The current global model's bytes and its detached signature text (unverified: the caller verifies).
    public func model() async throws -> SignedModelFile {
        let m = try expectOK(try await send(.GET, "/v1/model", timeout: 300))
        let s = try expectOK(try await send(.GET, "/v1/model/signature", timeout: 30))
        return SignedModelFile(bytes: m, signature: String(decoding: s, as: UTF8.self))
    }

    /// Posts one protocol message.
    public func post(round: Int, session: String, message: [UInt8]) async throws {
        _ = try expectOK(try await send(.POST, "/v1/rounds/\(round)/\(session)/messages", body: message, timeout: 300))
    }

    /// Tells the aggregator that this node sits out the attempt `round`/`session`, and why (a code).
    public func decline(round: Int, session: String, reason: DeclineReason) async throws {
        _ = try expectOK(try await send(.POST, "/v1/rounds/\(round)/\(session)/decline", body: reason.body, timeout: 30))
    }

    /// Sends this node's signed privacy attestation for the attempt `round`/`session` (before its masked input).
    public func attestPrivacy(round: Int, session: String, attestation: PrivacyAttestation) async throws {
        _ = try expectOK(try await send(.POST, "/v1/rounds/\(round)/\(session)/privacy", body: attestation.body, timeout: 30))
    }

    /// Long-polls for the `index`-th message addressed to this node; nil when none arrived in time.
    public func message(round: Int, session: String, index: Int) async throws -> [UInt8]? {
        let r = try await send(.GET, "/v1/rounds/\(round)/\(session)/messages/\(index)", timeout: 90)
        if r.status == 204 { return nil }
        return try expectOK(r)
    }

    /// Takes part in one round's secure aggregation as roster member `index`: posts the key advertisement,
    /// then long-polls for each server message and posts the replies, until the round completes or aborts.
    /// `onPhase` sees each client state's phase before that state's messages are posted (a throw there
    /// leaves the round, as a crash would; a suspension there holds the messages back). Returns the final client state.
    public func secureAggregation(round: Int, session: String, config: SecAggConfig, expectedContext: [UInt8],
                                  index: UInt32, identity: Identity.SigningKey, update: ClientUpdate,
                                  compute: ComputePool = .shared, beforeUnmasking: () async throws -> Void = {},
                                  onPhase: (NodePhase, Int) async throws -> Void = { _, _ in }) async throws -> SecAggClient {
        var (sa, first) = try SecAggClient.start(config: config, id: index, identity: identity, update: update,
                                                 expectedContext: expectedContext)
        try await onPhase(.secureAggregation(sa.state.phase), round)
        try await post(round: round, session: session, message: first.encode())
        var next = 0
        while !(sa.isCompleted || sa.abortReason != nil) {
            guard let m = try await message(round: round, session: session, index: next) else { continue }
            next += 1
            // Building the masked input expands a mask per neighbour to the model's length: on the pool.
            let moved = Handoff(sa)
            let back = try await compute.run { () throws -> Handoff<(SecAggClient, [[UInt8]])> in
                var c = moved.value
                let r = try c.receive(bytes: m)
                return Handoff((c, r))
            }
            let replies: [[UInt8]]
            (sa, replies) = back.value
            try await onPhase(.secureAggregation(sa.state.phase), round)
            // The unmasking answer reveals shares: the node's memory records it (and may refuse) before it leaves.
            if sa.state.phase == .unmasking, !replies.isEmpty { try await beforeUnmasking() }
            for r in replies { try await post(round: round, session: session, message: r) }
        }
        return sa
    }
}
