import Foundation
import Testing
@testable import Federation

/// Sends `request` (raw bytes, any content) over a fresh TCP connection to 127.0.0.1:`port` and returns the
/// status code of the answer, or nil when the server closed the connection without one. Runs on its own
/// thread (blocking sockets) so that it never holds a cooperative thread the server needs.
func rawHTTPStatus(port: Int, request: [UInt8], timeoutSeconds: Int = 20) async -> Int? {
    await withCheckedContinuation { (c: CheckedContinuation<Int?, Never>) in
        Thread {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = UInt16(port).bigEndian
            let ok = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard ok == 0 else { c.resume(returning: nil); return }
            var sent = 0
            while sent < request.count {
                let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { break }
                sent += n
            }
            var answer: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            while !answer.contains(0x0A) {
                let n = recv(fd, &buf, buf.count, 0)
                if n <= 0 { break }
                answer += buf[0..<n]
            }
            // "HTTP/1.1 NNN ..."
            let line = String(decoding: answer.prefix { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self).split(separator: " ")
            c.resume(returning: line.count >= 2 && line[0].hasPrefix("HTTP/") ? Int(line[1]) : nil)
        }.start()
    }
}

/// Hostile input against the real HTTP router of a running aggregator (not only the verifier): extreme and
/// malformed authentication headers and path parameters, each answered 4xx, the aggregator alive after each.
/// Regression for issue 15's crash: `X-SegViz-Timestamp: -9223372036854775808` with a listed node id trapped
/// the aggregator (`abs(t - now)` overflowed before any signature check).
extension RequestAuthTests {
    static let hostileNumbers: [[UInt8]] = [
        "-9223372036854775808", "9223372036854775807", "-9223372036854775807", "9223372036854775808",
        "-1", "+1700000000", "-0", "1e9", "1E18", "1.5", "0x10", " 1700000000", "1700000000 ", "",
        "1234567890123456789012345", "-1234567890123456789012345", String(repeating: "9", count: 4000),
        "١٧٠٠٠٠٠٠٠٠", "NaN", "inf",
    ].map { Array($0.utf8) } + [[0xFF, 0xFE, 0x31], [0xC0, 0x80], [0x31, 0x00, 0x32]]

    func request(_ method: String, _ path: [UInt8], _ headers: [([UInt8], [UInt8])], body: [UInt8] = []) -> [UInt8] {
        var r = Array("\(method) ".utf8) + path + Array(" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".utf8)
        for (k, v) in headers { r += k + Array(": ".utf8) + v + Array("\r\n".utf8) }
        r += Array("Content-Length: \(body.count)\r\n\r\n".utf8) + body
        return r
    }

    func authHeaders(timestamp: [UInt8], node: [UInt8] = Array("node0".utf8), nonce: [UInt8] = Array(String(repeating: "a", count: 32).utf8),
                     signature: [UInt8] = Array(Data(repeating: 1, count: 64).base64EncodedString().utf8)) -> [([UInt8], [UInt8])] {
        [(Array(RequestAuth.nodeHeader.utf8), node), (Array(RequestAuth.timestampHeader.utf8), timestamp),
         (Array(RequestAuth.nonceHeader.utf8), nonce), (Array(RequestAuth.signatureHeader.utf8), signature)]
    }

    func expectAlive(_ s: Server, after what: String) async throws {
        let key = try KeyFiles.loadSecretKey(path: s.dir + "/keys/node0.key")
        let h = RequestAuth.headers(audience: try RequestAuth.Audience(s.f), method: "GET", path: "/v1/status", body: [], node: "node0", key: key)
        let code = try? await send(s, "/v1/status", headers: h)
        #expect(code == 200, "aggregator not answering after \(what)")
    }

    @Test(.timeLimit(.minutes(5))) func hostileHeadersAndPathsAre4xxAndTheAggregatorLives() async throws {
        let s = try await startServer()
        defer { s.task.cancel() }
        let port = Int(s.url.split(separator: ":").last!)!
        var cases: [(String, [UInt8])] = []
        for n in Self.hostileNumbers {
            let shown = String(decoding: n.prefix(40), as: UTF8.self)
            cases.append(("timestamp \(shown)", request("GET", Array("/v1/status".utf8), authHeaders(timestamp: n))))
            cases.append(("nonce \(shown)", request("GET", Array("/v1/model".utf8), authHeaders(timestamp: Array("1700000000".utf8), nonce: n))))
            cases.append(("node \(shown)", request("GET", Array("/v1/status".utf8), authHeaders(timestamp: Array("1700000000".utf8), node: n))))
            cases.append(("signature \(shown)", request("GET", Array("/v1/status".utf8), authHeaders(timestamp: n, signature: n))))
            for path in ["/v1/rounds/\(shown)/00/messages/0", "/v1/rounds/1/00/messages/\(shown)"] where !n.contains(0xFF) {
                let p = Array(path.utf8).filter { $0 > 0x20 }
                cases.append(("path \(path)", request("GET", p, authHeaders(timestamp: n))))
            }
            cases.append(("post round \(shown)", request("POST", Array("/v1/rounds/".utf8) + n.filter { $0 > 0x20 && $0 < 0x80 } + Array("/00/messages".utf8),
                                                          authHeaders(timestamp: n), body: [1, 2, 3])))
        }
        // The crash itself, now with the current time so that only the skew arithmetic is in play.
        let now = Int64(Date().timeIntervalSince1970)
        cases.append(("timestamp now", request("GET", Array("/v1/status".utf8), authHeaders(timestamp: Array(String(now).utf8)))))
        cases.append(("session not hex", request("GET", Array("/v1/rounds/1/zz/messages/0".utf8), authHeaders(timestamp: Array(String(now).utf8)))))
        cases.append(("session oversized", request("GET", Array("/v1/rounds/1/\(String(repeating: "a", count: 5000))/messages/0".utf8),
                                                   authHeaders(timestamp: Array(String(now).utf8)))))
        cases.append(("oversized header", request("GET", Array("/v1/status".utf8),
                                                  authHeaders(timestamp: Array(String(now).utf8), node: [UInt8](repeating: 0x41, count: 200_000)))))
        var answered: [Int: Int] = [:]
        for (what, bytes) in cases {
            let code = await rawHTTPStatus(port: port, request: bytes)
            if let code {
                answered[code, default: 0] += 1
                #expect((400..<500).contains(code), "\(what): answered \(code)")
            } else {
                // Only an oversized request may be dropped by the HTTP parser instead of answered.
                #expect(bytes.count > 16_000, "\(what): no answer")
            }
            try await expectAlive(s, after: what)
        }
        print("RouterHostileInput: \(cases.count) hostile requests, answers by status \(answered.sorted { $0.key < $1.key })")
        #expect(cases.count > 100)
    }
}
