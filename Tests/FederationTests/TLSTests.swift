import Foundation
import Testing
@testable import Federation

/// HTTPS with the aggregator's certificate pinned in the federation file.
@Suite(.serialized, .timeLimit(.minutes(5))) struct TLSTests {
    /// A self-signed certificate for 127.0.0.1 made with openssl; returns (certificate path, key path, PEM).
    func selfSigned(_ dir: String, name: String) throws -> (String, String, String) {
        let cert = "\(dir)/\(name).crt", key = "\(dir)/\(name).pem"
        let r = try run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                         "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=segviz-aggregator",
                         "-addext", "subjectAltName=IP:127.0.0.1"])
        #expect(r.status == 0, "\(r.output)")
        return (cert, key, try String(contentsOfFile: cert, encoding: .utf8))
    }

    @Test func secureRoundOverPinnedTLSAndAForeignCertificateIsRefused() async throws {
        let dir = try temporaryDirectory()
        let port = freePort()
        let (cert, key, pem) = try selfSigned(dir, name: "server")
        let f = try smallFederation(dir: dir, rounds: 1, port: port) { f in
            f.aggregator.url = "https://127.0.0.1:\(port)"
            f.aggregator.tlsCertificate = pem
        }
        let sink = LogSink()
        let aggKey = try KeyFiles.loadSecretKey(path: dir + "/keys/aggregator.key")
        let coord = try Coordinator(federation: f, stateDirectory: dir + "/state", key: aggKey, log: { sink.append($0) })
        let server = Task {
            try await AggregatorService.run(coordinator: coord, federation: f, host: "127.0.0.1", port: port,
                                            tls: .init(certificate: cert, privateKey: key), lingerSeconds: 1,
                                            log: { sink.append($0) })
        }
        // A client pinning another certificate cannot talk to this server.
        let (_, _, otherPEM) = try selfSigned(dir, name: "other")
        let node0 = try KeyFiles.loadSecretKey(path: dir + "/keys/node0.key")
        let impostor = try AggregatorClient(baseURL: f.aggregator.url, node: "node0", key: node0, audience: try RequestAuth.Audience(f),
                                            pinnedCertificatePEM: otherPEM)
        var refused = false
        for _ in 0..<100 where !refused {
            // Only a refusal from a server that is already listening is the TLS check.
            let listening = sink.all.contains { $0.contains("listening on https") }
            do { _ = try await impostor.status() } catch let e as AggregatorClient.HTTPFailure {
                Issue.record("unexpected HTTP answer through a wrongly pinned connection: \(e)")
            } catch {
                refused = listening
            }
            if !refused { try await Task.sleep(nanoseconds: 100_000_000) }
        }
        await impostor.shutdown()
        #expect(refused)
        // The federation's nodes, pinning the right certificate, complete a secure round over HTTPS.
        try await withThrowingTaskGroup(of: Void.self) { g in
            for i in 0..<3 {
                let k = try KeyFiles.loadSecretKey(path: dir + "/keys/node\(i).key")
                let runner = try NodeRunner(federation: f, id: "node\(i)", key: k,
                                            trainer: KnownDeltaTrainer(delta: 0.01, samples: 5),
                                            aggregatorURL: f.aggregator.url, log: { sink.append("node\(i): " + $0) })
                g.addTask { try await runner.run() }
            }
            try await g.waitForAll()
        }
        try await server.value
        let v = try Ledger(path: dir + "/state/ledger.sqlite").verify(aggregatorKey: aggKey.publicKey)
        #expect(v.ok && v.records.map(\.status) == [.completed], "\(sink.all.joined(separator: "\n"))")
    }

    @Test func httpsWithoutAPinIsRefusedByTheFederationFile() throws {
        let dir = try temporaryDirectory()
        #expect(throws: FederationFile.LoadError.self) {
            try smallFederation(dir: dir, rounds: 1, port: 1) { $0.aggregator.url = "https://127.0.0.1:1" }
        }
    }
}
