import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
@testable import Federation

/// Regressions from fuzzing the API with schemathesis (scripts/api-fuzz.sh).
extension RequestAuthTests {
    /// Found: a documented path asked with another method answered 404, as if the path did not exist.
    @Test func wrongMethodOnAKnownPathIs405WithAllow() async throws {
        let s = try await startServer()
        defer { s.task.cancel() }
        for (path, method, allow) in [("/v1/status", HTTPMethod.POST, "GET"), ("/v1/model", .DELETE, "GET"),
                                      ("/v1/rounds/1/\(String(repeating: "a", count: 64))/messages", .PUT, "POST"),
                                      ("/v1/rounds/1/\(String(repeating: "a", count: 64))/privacy", .GET, "POST"),
                                      ("/v1/rounds/1/\(String(repeating: "a", count: 64))/decline", .GET, "POST"),
                                      ("/v1/rounds/1/ab/messages/0", .RAW(value: "QUERY"), "GET")] {
            var req = HTTPClientRequest(url: s.url + path)
            req.method = method
            let resp = try await HTTPClient.shared.execute(req, timeout: .seconds(30))
            _ = try await resp.body.collect(upTo: 1 << 20)
            #expect(resp.status.code == 405, "\(method) \(path)")
            #expect(resp.headers["Allow"].first == allow, "\(method) \(path): \(resp.headers)")
        }
        #expect(try await send(s, "/v1/nothing-here", method: .POST, headers: []) == 404)
    }

    /// Found by reading what the fuzzer exercised: a negative message index long-polled and answered 204
    /// (success) instead of refusing the request.
    @Test func negativeMessageIndexIs400() async throws {
        let s = try await startServer()
        defer { s.task.cancel() }
        let node = try KeyFiles.loadSecretKey(path: s.dir + "/keys/node0.key")
        let status = RequestAuth.headers(audience: try RequestAuth.Audience(s.f), method: "GET", path: "/v1/status", body: [], node: "node0", key: node)
        var req = HTTPClientRequest(url: s.url + "/v1/status")
        for (k, v) in status { req.headers.add(name: k, value: v) }
        let resp = try await HTTPClient.shared.execute(req, timeout: .seconds(30))
        let a = try JSONDecoder().decode(RoundAnnouncement.self, from: Data(buffer: try await resp.body.collect(upTo: 1 << 20)))
        let path = "/v1/rounds/\(a.round)/\(a.session)/messages/-1"
        let h = RequestAuth.headers(audience: try RequestAuth.Audience(s.f), method: "GET", path: path, body: [], node: "node0", key: node)
        #expect(try await send(s, path, headers: h) == 400)
    }
}

/// Whether python3 can import what scripts/api-fuzz.sh needs; prints why not.
let apiFuzzAvailable: Bool = {
    guard let r = try? run(["python3", "-c", "import schemathesis, cryptography"]), r.status == 0 else {
        print("ApiFuzzTests: SKIPPED: python3 with schemathesis and cryptography is needed (scripts/install-deps.sh installs them)")
        return false
    }
    return true
}()

/// The whole API against openapi.yaml: schemathesis's generated and malformed requests, signed, unsigned
/// and wrongly signed, against a real aggregator process: no 5xx, no undocumented status or content type,
/// no mis-signed request accepted, the aggregator alive afterwards.
@Suite(.enabled(if: apiFuzzAvailable, "needs python3 with schemathesis and cryptography"), .timeLimit(.minutes(10))) struct ApiFuzzTests {
    @Test func schemathesisFindsNothing() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let started = Date()
        let r = try run(["env", "FUZZ_EXAMPLES=40", "FUZZ_SEED=3", root.appendingPathComponent("scripts/api-fuzz.sh").path, segvizExecutable()])
        #expect(r.status == 0, "\(r.output.suffix(6000))")
        #expect(r.output.contains("api-fuzz: passed"), "\(r.output.suffix(2000))")
        #expect(r.output.contains("api-fuzz: requests by kind"), "the signing hook did not run")
        print("ApiFuzzTests: \(String(format: "%.1f", Date().timeIntervalSince(started))) s; "
              + (r.output.split(separator: "\n").first { $0.hasPrefix("api-fuzz: requests") }.map(String.init) ?? ""))
    }
}
