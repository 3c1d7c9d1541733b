import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
@testable import Federation

/// The aggregator's HTTP surface refuses what it must: unknown keys, bad signatures, replays, stale
/// timestamps and oversized bodies; and the status page renders.
@Suite(.serialized) struct RequestAuthTests {
    struct Server {
        let dir: String
        let f: FederationFile
        let url: String
        let task: Task<Void, any Error>
        let log: LogSink
    }

    func startServer() async throws -> Server {
        let dir = try temporaryDirectory()
        let port = freePort()
        let f = try smallFederation(dir: dir, rounds: 1, port: port)
        let sink = LogSink()
        let agg = try KeyFiles.loadSecretKey(path: dir + "/keys/aggregator.key")
        let coord = try Coordinator(federation: f, stateDirectory: dir + "/state", key: agg, log: { sink.append($0) })
        let task = Task {
            try await AggregatorService.run(coordinator: coord, federation: f, host: "127.0.0.1", port: port,
                                            log: { sink.append($0) })
        }
        let s = Server(dir: dir, f: f, url: "http://127.0.0.1:\(port)", task: task, log: sink)
        // Wait until it answers.
        for _ in 0..<100 {
            if (try? await send(s, "/", headers: [])) != nil { break }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        return s
    }

    func send(_ s: Server, _ path: String, method: HTTPMethod = .GET, headers: [(String, String)], body: [UInt8] = []) async throws -> Int {
        var req = HTTPClientRequest(url: s.url + path)
        req.method = method
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if !body.isEmpty { req.body = .bytes(ByteBuffer(bytes: body)) }
        let resp = try await HTTPClient.shared.execute(req, timeout: .seconds(30))
        _ = try await resp.body.collect(upTo: 64 << 20)
        return Int(resp.status.code)
    }

    @Test func signedRequestsPassAndEveryForgeryIsRejected() async throws {
        let s = try await startServer()
        defer { s.task.cancel() }
        let node = try KeyFiles.loadSecretKey(path: s.dir + "/keys/node0.key")
        let good = RequestAuth.headers(audience: try RequestAuth.Audience(s.f), method: "GET", path: "/v1/status", body: [], node: "node0", key: node)
        #expect(try await send(s, "/v1/status", headers: good) == 200)
        // The same request again is a replay.
        #expect(try await send(s, "/v1/status", headers: good) == 401)
        // No headers at all.
        #expect(try await send(s, "/v1/status", headers: []) == 401)
        // A key that is not in the federation file.
        try KeyFiles.generate(id: "stranger", directory: s.dir + "/other")
        let stranger = try KeyFiles.loadSecretKey(path: s.dir + "/other/stranger.key")
        #expect(try await send(s, "/v1/status", headers: RequestAuth.headers(audience: try RequestAuth.Audience(s.f), method: "GET", path: "/v1/status", body: [],
                                                                              node: "stranger", key: stranger)) == 403)
        // A listed node id signed with the wrong key.
        #expect(try await send(s, "/v1/status", headers: RequestAuth.headers(audience: try RequestAuth.Audience(s.f), method: "GET", path: "/v1/status", body: [],
                                                                              node: "node1", key: stranger)) == 401)
        // A signature for another path.
        let other = RequestAuth.headers(audience: try RequestAuth.Audience(s.f), method: "GET", path: "/v1/model", body: [], node: "node0", key: node)
        #expect(try await send(s, "/v1/status", headers: other) == 401)
        // A stale timestamp.
        let old = RequestAuth.headers(audience: try RequestAuth.Audience(s.f), method: "GET", path: "/v1/status", body: [], node: "node0", key: node,
                                      now: Int64(Date().timeIntervalSince1970) - 3600)
        #expect(try await send(s, "/v1/status", headers: old) == 401)
        // A body changed after signing.
        let path = "/v1/rounds/1/00/messages"
        let signed = RequestAuth.headers(audience: try RequestAuth.Audience(s.f), method: "POST", path: path, body: [1, 2, 3], node: "node0", key: node)
        #expect(try await send(s, path, method: .POST, headers: signed, body: [1, 2, 4]) == 401)
        // An oversized body.
        let big = [UInt8](repeating: 7, count: 8 << 20)
        let bigHeaders = RequestAuth.headers(audience: try RequestAuth.Audience(s.f), method: "POST", path: path, body: big, node: "node0", key: node)
        #expect(try await send(s, path, method: .POST, headers: bigHeaders, body: big) == 413)
        // A well-signed but malformed protocol message for a stale session.
        let junk = RequestAuth.headers(audience: try RequestAuth.Audience(s.f), method: "POST", path: path, body: [9, 9], node: "node0", key: node)
        #expect(try await send(s, path, method: .POST, headers: junk, body: [9, 9]) == 409)
        #expect(s.log.all.contains { $0.contains("replayed request") })
        #expect(s.log.all.contains { $0.contains("unknown node") })
    }

    /// Issue 15: the signed request text names the federation and the aggregator's key, so a signature made
    /// for another aggregator (same node key registered there) or another federation is refused here.
    @Test func aSignatureForAnotherAggregatorOrFederationIsRefused() async throws {
        let s = try await startServer()
        defer { s.task.cancel() }
        let node = try KeyFiles.loadSecretKey(path: s.dir + "/keys/node0.key")
        let mine = try RequestAuth.Audience(s.f)
        try KeyFiles.generate(id: "other-aggregator", directory: s.dir + "/other")
        let otherKey = try KeyFiles.loadSecretKey(path: s.dir + "/other/other-aggregator.key").publicKey.key
        let elsewhere = [RequestAuth.Audience(federation: mine.federation, aggregatorKey: otherKey),
                         RequestAuth.Audience(federation: mine.federation + "-other", aggregatorKey: mine.aggregatorKey)]
        for audience in elsewhere {
            let h = RequestAuth.headers(audience: audience, method: "GET", path: "/v1/status", body: [], node: "node0", key: node)
            #expect(try await send(s, "/v1/status", headers: h) == 401, "\(audience.federation)")
        }
        #expect(s.log.all.filter { $0.contains("bad signature for node 'node0'") }.count == 2)
        // The control: the same request signed for this federation and aggregator passes.
        let h = RequestAuth.headers(audience: mine, method: "GET", path: "/v1/status", body: [], node: "node0", key: node)
        #expect(try await send(s, "/v1/status", headers: h) == 200)
    }

    /// Issue 22: a node that never made a request shows "never connected" (it used to say "training or
    /// waiting"); once it has asked for the round's status it is "training or waiting".
    @Test func statusPageShowsTheFederation() async throws {
        let s = try await startServer()
        defer { s.task.cancel() }
        func page() async throws -> (HTTPResponseStatus, String) {
            var req = HTTPClientRequest(url: s.url + "/")
            req.method = .GET
            let resp = try await HTTPClient.shared.execute(req, timeout: .seconds(10))
            return (resp.status, String(buffer: try await resp.body.collect(upTo: 1 << 20)))
        }
        let (status, body) = try await page()
        #expect(status == .ok)
        #expect(body.contains("SegViz federation test"))
        #expect(body.contains("node0"))
        #expect(body.contains("signature <span class=\"ok\">verifies</span>"))
        #expect(body.contains("<td class=\"\">never connected</td>") && !body.contains("training or waiting"), "\(body)")
        #expect(body.contains("hash chain and signatures verify"))
        let node = try KeyFiles.loadSecretKey(path: s.dir + "/keys/node0.key")
        let h = RequestAuth.headers(audience: try RequestAuth.Audience(s.f), method: "GET", path: "/v1/status", body: [], node: "node0", key: node)
        #expect(try await send(s, "/v1/status", headers: h) == 200)
        let (_, after) = try await page()
        #expect(after.contains("training or waiting (AdvertiseKeys)"), "\(after)")
    }
}
