import Foundation

/// Signed node requests: every request a node sends carries its id, a timestamp, a random nonce and an
/// Ed25519 signature over a canonical description of the request, including a hash of the body.
///
/// Canonical bytes (UTF-8, `\n`-separated): `segviz-request/v2`, the federation's name, the aggregator's
/// Ed25519 public key (64 hex digits), method, path with query, node id, timestamp (Unix seconds), nonce
/// (32 hex digits), hex BLAKE2b-256 of the body. The first two fields bind a signature to one federation and
/// one aggregator: a request signed for another aggregator the node's key is registered with is refused.
public enum RequestAuth {
    /// Whom a request is for: the federation (by name) and its aggregator (by public key).
    public struct Audience: Equatable, Sendable {
        /// The federation file's `name`.
        public var federation: String
        /// The aggregator's raw Ed25519 public key (32 bytes).
        public var aggregatorKey: [UInt8]
        /// Creates an audience.
        public init(federation: String, aggregatorKey: [UInt8]) { self.federation = federation; self.aggregatorKey = aggregatorKey }
        /// The audience of `federation`'s own aggregator.
        public init(_ federation: FederationFile) throws {
            self.init(federation: federation.name,
                      aggregatorKey: try federation.aggregatorKey().key)
        }
    }

    /// Header carrying the node id.
    public static let nodeHeader = "X-SegViz-Node"
    /// Header carrying the Unix time in seconds.
    public static let timestampHeader = "X-SegViz-Timestamp"
    /// Header carrying 16 random bytes as hex.
    public static let nonceHeader = "X-SegViz-Nonce"
    /// Header carrying the base64 Ed25519 signature.
    public static let signatureHeader = "X-SegViz-Signature"
    /// How far a request's timestamp may be from the server's clock.
    public static let maximumSkewSeconds: Int64 = 300

    /// The bytes a node signs.
    public static func canonical(audience: Audience, method: String, path: String, node: String, timestamp: Int64,
                                 nonce: String, body: [UInt8]) -> [UInt8] {
        let lines = ["segviz-request/v2", audience.federation, hex(audience.aggregatorKey), method.uppercased(), path,
                     node, String(timestamp), nonce, hex(FedCrypto.blake2b256(body))]
        return Array(lines.joined(separator: "\n").utf8)
    }

    /// Headers for a request to `audience` signed by `key` as node `node`.
    public static func headers(audience: Audience, method: String, path: String, body: [UInt8], node: String,
                               key: IdentityKey, now: Int64 = Int64(Date().timeIntervalSince1970)) -> [(String, String)] {
        let nonce = hex(FedCrypto.randomBytes(16))
        let sig = key.sign(canonical(audience: audience, method: method, path: path, node: node, timestamp: now,
                                     nonce: nonce, body: body))
        return [(nodeHeader, node), (timestampHeader, String(now)), (nonceHeader, nonce),
                (signatureHeader, Data(sig).base64EncodedString())]
    }

    /// Parses a timestamp header: 1 to 12 ASCII digits (no sign, exponent, space or fraction), so every
    /// value fits far inside Int64 and no arithmetic on it can trap. Nil for anything else.
    public static func parseTimestamp(_ text: String) -> Int64? { DecimalDigits.parse(text, maxDigits: 12) }

    /// Whether `t` is within ``maximumSkewSeconds`` of `now`, for any two Int64 values (no overflow).
    public static func withinSkew(_ t: Int64, now: Int64) -> Bool {
        let (d, overflow) = t.subtractingReportingOverflow(now)
        return !overflow && d >= -maximumSkewSeconds && d <= maximumSkewSeconds
    }

    /// Why a request was refused; `status` is the HTTP status to answer with.
    public struct Rejection: Error, Equatable, CustomStringConvertible {
        /// 401 (unauthenticated: missing/bad signature, stale, replayed) or 403 (unknown node).
        public var status: Int
        /// What was wrong.
        public var reason: String
        public var description: String { "\(status): \(reason)" }
    }
}

/// Server side of request authentication: checks signatures against the federation's node keys and keeps a
/// window of seen nonces so that a replayed request is refused.
public actor RequestVerifier {
    private let keys: [String: Minisign.PublicKey]
    private let audience: RequestAuth.Audience
    private var seen: [String: Int64] = [:]
    private var lastPrune: Int64 = 0

    /// Creates a verifier for the nodes of `federation`.
    public init(federation: FederationFile) throws {
        var k: [String: Minisign.PublicKey] = [:]
        for (i, n) in federation.nodes.enumerated() { k[n.id] = try federation.nodeKey(i) }
        keys = k
        audience = try RequestAuth.Audience(federation)
    }

    /// Checks one request; returns the authenticated node id.
    public func authenticate(method: String, path: String, header: (String) -> String?, body: [UInt8],
                             now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> String {
        func reject(_ status: Int, _ reason: String) -> RequestAuth.Rejection { .init(status: status, reason: reason) }
        guard let node = header(RequestAuth.nodeHeader), let ts = header(RequestAuth.timestampHeader),
              let nonce = header(RequestAuth.nonceHeader), let sigText = header(RequestAuth.signatureHeader) else {
            throw reject(401, "missing authentication headers")
        }
        guard let key = keys[node] else { throw reject(403, "unknown node '\(node.prefix(64))'") }
        guard let t = RequestAuth.parseTimestamp(ts) else { throw reject(401, "malformed timestamp") }
        guard RequestAuth.withinSkew(t, now: now) else { throw reject(401, "timestamp outside the allowed window") }
        guard nonce.count == 32, nonce.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            throw reject(401, "malformed nonce")
        }
        guard let sig = Data(base64Encoded: sigText), sig.count == 64 else { throw reject(401, "malformed signature") }
        let msg = RequestAuth.canonical(audience: audience, method: method, path: path, node: node, timestamp: t, nonce: nonce, body: body)
        guard FedCrypto.verify(signature: [UInt8](sig), message: msg, publicKey: key.key) else {
            throw reject(401, "bad signature for node '\(node)'")
        }
        prune(now: now)
        let token = node + ":" + nonce
        guard seen[token] == nil else { throw reject(401, "replayed request (nonce already used)") }
        seen[token] = t
        return node
    }

    private func prune(now: Int64) {
        guard now - lastPrune > 30 else { return }
        lastPrune = now
        seen = seen.filter { now - $0.value <= 2 * RequestAuth.maximumSkewSeconds }
    }
}
