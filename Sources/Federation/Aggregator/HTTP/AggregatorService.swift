import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOCore
import NIOSSL

/// Runs the aggregator: the HTTP server and the deadline ticker, until every round is done (then it keeps
/// serving the final model for `lingerSeconds` so nodes can see the end) or the process is stopped.
public enum AggregatorService {
    /// TLS material for HTTPS: PEM certificate chain and private key files.
    public struct TLSFiles: Sendable {
        /// Certificate chain (PEM).
        public var certificate: String
        /// Private key (PEM).
        public var privateKey: String
        /// Creates the pair.
        public init(certificate: String, privateKey: String) { self.certificate = certificate; self.privateKey = privateKey }
    }

    /// Serves `coordinator` on `host:port` (HTTPS with `tls`); `onListening` receives the bound port; a message
    /// long-poll waits up to `longPollSeconds`.
    public static func run(coordinator: Coordinator, federation: FederationFile, host: String, port: Int,
                           tls: TLSFiles? = nil,
                           lingerSeconds: Double = 5, longPollSeconds: Double = 20, log: @escaping @Sendable (String) -> Void,
                           onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let model = await coordinator.model
        let maxBody = (model.values.count + 2 * model.entries.count) * 4 + (4 << 20)
        let server = try AggregatorServer(coordinator: coordinator, federation: federation, maxBodyBytes: maxBody,
                                          longPollSeconds: longPollSeconds, log: log, statusPage: { await StatusPage.render(coordinator) })
        var builder: HTTPServerBuilder = .http1()
        if let tls {
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(tls.certificate).map { NIOSSLCertificateSource.certificate($0) }
                let key = try NIOSSLPrivateKey(file: tls.privateKey, format: .pem)
                builder = try .tls(.http1(), tlsConfiguration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key)))
            } catch {
                throw FederationError.file(path: tls.certificate, problem: "cannot load the TLS certificate or key: \(error)")
            }
        }
        let listening = SettableFlag()
        var app = Application(router: server.router(), server: builder,
                              configuration: .init(address: .hostname(host, port: port), serverName: "segviz-aggregator"),
                              onServerRunning: { channel in
                                  let p = channel.localAddress?.port ?? port
                                  listening.set()
                                  log("listening on \(tls == nil ? "http" : "https")://\(host):\(p)")
                                  onListening(p)
                              })
        // The aggregator logs its own lines; HummingbirdCore's would add an error line on every normal shutdown.
        app.logger.logLevel = .critical
        let service = app
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do { try await service.runService() } catch where !listening.value {
                    // A bind failure names the address (NIO's text says only "Address already in use (errno: 98)").
                    throw StartupRefusal.addressInUse(address: "\(host):\(port)", reason: ConnectionProblem.plainReason(error))
                }
            }
            group.addTask { try await driveDeadlines(coordinator, lingerSeconds: lingerSeconds) }
            _ = try await group.next()
            group.cancelAll()
        }
    }

    /// Ticks `coordinator`'s deadlines every 100 ms until every round is done, then waits `lingerSeconds`
    /// (forever if infinite) so nodes can still see the end.
    public static func driveDeadlines(_ coordinator: Coordinator, lingerSeconds: Double) async throws {
        while await !coordinator.finished {
            await coordinator.tick()
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        if lingerSeconds.isInfinite {
            while true { try await Task.sleep(nanoseconds: 3_600_000_000_000) }
        }
        try await Task.sleep(nanoseconds: UInt64(max(0, lingerSeconds) * 1e9))
    }
}

/// A flag one task sets and others read, e.g. "the server is listening" (`lock` guards `flag`, hence
/// @unchecked Sendable).
public final class SettableFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    /// Unset.
    public init() {}
    /// Sets it (for good).
    public func set() { lock.withLock { flag = true } }
    /// Whether it was set.
    public var value: Bool { lock.withLock { flag } }
}
