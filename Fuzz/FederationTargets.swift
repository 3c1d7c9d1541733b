// Fuzz targets of the federation's decoders: the federation file, minisign keys and signatures, and the
// aggregator's handling of an HTTP request (authentication headers, then the body as a protocol message).
import Foundation
@testable import Federation
import SecureAggregation

let federationTargets: [FuzzTarget] = [
    FuzzTarget(name: "federation-file", seeds: { [Array(try Fixtures.federation.encoded())] }) { bytes in
        guard let f = try? FederationFile.decode(Data(bytes), path: "fuzz.json") else { return }
        // What the aggregator and every node derive from an accepted file must not trap either.
        _ = SecureAggregationBound.meanErrorBound(f)
        guard let roster = try? RoundSetup.roster(f) else { return }
        fuzzInvariant(roster.count == f.nodes.count, "roster size differs from the node list")
        guard f.network.channels.reduce(0, +) <= 24, f.network.numResUnits <= 2 else { return }
        let model = FederatedModel(strategy: f.strategy, organs: f.organNames, network: f.network, seed: f.training.seed)
        _ = try? RoundSetup.config(federation: f, model: model, context: RoundContext(f, round: 1, modelRound: 0, modelHash: [UInt8](repeating: 0, count: 32)), session: [UInt8](repeating: 7, count: 32))
    },
    FuzzTarget(name: "minisign-public-key", seeds: {
        [Array(Fixtures.keys.aggregator.publicKey.fileText.utf8), Array(Fixtures.keys.nodes[0].publicKey.base64.utf8)]
    }) { bytes in
        guard let k = try? Minisign.PublicKey(text: String(decoding: bytes, as: UTF8.self)) else { return }
        fuzzInvariant((try? Minisign.PublicKey(text: k.fileText)) == k, "public key does not round-trip")
    },
    FuzzTarget(name: "minisign-secret-key", seeds: {
        let p = KeyFiles.paths(id: "node-a", directory: Fixtures.directory.appendingPathComponent("keys").path)
        return [[UInt8](try Data(contentsOf: URL(fileURLWithPath: p.secretKey)))]
    }) { bytes in
        guard let f = try? Minisign.SecretKeyFile(text: String(decoding: bytes, as: UTF8.self),
                                                 blake2b256: FedCrypto.blake2b256) else { return }
        guard let key = try? IdentityKey(keyID: f.keyID, secretKey: f.secretKey) else { return }
        let m: [UInt8] = [1, 2, 3]
        fuzzInvariant(FedCrypto.verify(signature: key.sign(m), message: m, publicKey: key.publicKey.key),
                      "an accepted secret key signs what its public key does not verify")
    },
    FuzzTarget(name: "minisign-signature", seeds: { [Array(Fixtures.artifact.signature.fileText.utf8)] }) { bytes in
        guard let s = try? Minisign.Signature(text: String(decoding: bytes, as: UTF8.self)) else { return }
        fuzzInvariant((try? Minisign.Signature(text: s.fileText))?.globalSignedBytes == s.globalSignedBytes,
                      "signature does not round-trip")
        let verified = try? ModelSignature.verify(fileBytes: Fixtures.artifact.bytes, signature: s,
                                                  publicKey: Fixtures.keys.aggregator.publicKey)
        if verified != nil {
            fuzzInvariant(s.signature == Fixtures.artifact.signature.signature, "a forged signature verified")
        }
    },
    FuzzTarget(name: "http-request", seeds: httpSeeds, run: runHTTPRequest),
]

/// A request as the fuzzer sees it: `METHOD PATH`, header lines `Name: value`, a blank line, the body.
/// When the first byte is `!`, the harness signs the request itself with node-a's key (keeping the fuzzed
/// timestamp and nonce), so that inputs get past authentication to the body's decoders.
struct FuzzRequest {
    var method = "POST", path = "/", headers: [(String, String)] = [], body: [UInt8] = []

    init(_ bytes: [UInt8]) {
        let split = bytes.firstRange(of: [10, 10]) ?? bytes.endIndex ..< bytes.endIndex
        let head = String(decoding: bytes[..<split.lowerBound], as: UTF8.self).split(separator: "\n")
        body = Array(bytes[split.upperBound...])
        if let first = head.first {
            let parts = first.split(separator: " ", maxSplits: 1)
            method = parts.first.map(String.init) ?? ""
            path = parts.count > 1 ? String(parts[1]) : "/"
        }
        for line in head.dropFirst() {
            guard let c = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<c]), String(line[line.index(after: c)...]).trimmingCharacters(in: .whitespaces)))
        }
    }

    func encoded() -> [UInt8] {
        Array(([method + " " + path] + headers.map { "\($0.0): \($0.1)" }).joined(separator: "\n").utf8) + [10, 10] + body
    }
}

/// The fixed clock of the http-request target (seeds are signed at this time).
let httpNow: Int64 = 1_750_000_000

let verifier = try! RequestVerifier(federation: Fixtures.federation)

/// Whom the harness's requests are signed for: the fixture federation's aggregator.
let audience = try! RequestAuth.Audience(Fixtures.federation)

func runHTTPRequest(_ bytes: [UInt8]) {
    var r = FuzzRequest(bytes.first == UInt8(ascii: "!") ? Array(bytes.dropFirst()) : bytes)
    if bytes.first == UInt8(ascii: "!") {
        let get = { (n: String) in r.headers.first { $0.0.lowercased() == n.lowercased() }?.1 }
        let ts = get(RequestAuth.timestampHeader).flatMap { Int64($0) } ?? httpNow
        let nonce = get(RequestAuth.nonceHeader) ?? String(repeating: "0", count: 32)
        let sig = Fixtures.keys.nodes[0].sign(RequestAuth.canonical(audience: audience, method: r.method, path: r.path, node: "node-a",
                                                                    timestamp: ts, nonce: nonce, body: r.body))
        r.headers.removeAll { $0.0.lowercased() == RequestAuth.signatureHeader.lowercased() }
        r.headers.append((RequestAuth.signatureHeader, Data(sig).base64EncodedString()))
    }
    let request = r
    let node = Fixtures.blocking { () async -> String? in
        try? await verifier.authenticate(method: request.method, path: request.path, header: { name in
            request.headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }, body: request.body, now: httpNow)
    }
    guard let node, let index = Fixtures.federation.nodes.firstIndex(where: { $0.id == node }) else { return }
    // An authenticated body: what the aggregator's protocol server does with it in its first phase, and what
    // a node does with a status answer.
    var server = SecAggServer(config: recordedRound.config)
    _ = try? server.receive(bytes: request.body, from: UInt32(index))
    guard let a = try? JSONDecoder().decode(RoundAnnouncement.self, from: Data(request.body)) else { return }
    // A node compares the fingerprint (naming the first differing field) and reports how the federation ended.
    if a.federationFingerprint != Fixtures.federation.fingerprint {
        _ = FederationFile.firstDifference(Fixtures.federation.fieldDigests, a.federationFields)
    }
    _ = (a.completedRounds ?? a.rounds, a.failure, a.stop?.words)
    let again = (try? JSONEncoder().encode(a)).flatMap { try? JSONDecoder().decode(RoundAnnouncement.self, from: $0) }
    fuzzInvariant(again == a, "announcement does not round-trip")
}

/// Signed requests as nodes send them: each recorded client message posted, and a status poll.
func httpSeeds() throws -> [[UInt8]] {
    let key = Fixtures.keys.nodes[0]
    let session = String(repeating: "ab", count: 32)
    var bodies: [(String, String, [UInt8])] = [("GET", "/v1/status", [])]
    for m in recordedRound.messages where !m.toClient && m.party == 0 {
        bodies.append(("POST", "/v1/rounds/1/\(session)/messages", m.bytes))
    }
    // Status answers with every field: a running round, a federation that failed, one stopped at the budget.
    let f = Fixtures.federation
    func announcement(round: Int, phase: RoundPhase, completed: Int, failure: String? = nil,
                      stop: FederationStop? = nil) -> RoundAnnouncement {
        RoundAnnouncement(round: round, session: session, phase: phase, modelRound: completed, modelHash: Ledger.genesisHash,
                          rounds: 3, federationFingerprint: f.fingerprint, federationFields: f.fieldDigests,
                          completedRounds: completed, failure: failure, stop: stop)
    }
    for a in [announcement(round: 1, phase: .advertiseKeys, completed: 0),
              announcement(round: 4, phase: .finished, completed: 1, failure: "no new global model after 3 attempt(s) in a row"),
              announcement(round: 3, phase: .finished, completed: 2, stop: .privacyBudget)] {
        bodies.append(("GET", "/v1/status", Array(try JSONEncoder().encode(a))))
    }
    return bodies.flatMap { method, path, body -> [[UInt8]] in
        var r = FuzzRequest([])
        (r.method, r.path, r.body) = (method, path, body)
        r.headers = RequestAuth.headers(audience: audience, method: method, path: path, body: body, node: "node-a", key: key, now: httpNow)
        return [r.encoded(), [UInt8(ascii: "!")] + r.encoded()]
    }
}
