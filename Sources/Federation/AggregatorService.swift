import Foundation
import Hummingbird
import NIOCore

/// Runs the aggregator: the HTTP server and the deadline ticker, until every round is done (then it keeps
/// serving the final model for `lingerSeconds` so nodes can see the end) or the process is stopped.
public enum AggregatorService {
    /// Serves `coordinator` on `host:port`; `onListening` receives the bound port (useful with port 0).
    public static func run(coordinator: Coordinator, federation: FederationFile, host: String, port: Int,
                           lingerSeconds: Double = 5, log: @escaping @Sendable (String) -> Void,
                           onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let model = await coordinator.model
        let maxBody = (model.values.count + 2 * model.entries.count) * 4 + (4 << 20)
        let server = try AggregatorServer(coordinator: coordinator, federation: federation, maxBodyBytes: maxBody,
                                          log: log, statusPage: { await StatusPage.render(coordinator) })
        let app = Application(router: server.router(),
                              configuration: .init(address: .hostname(host, port: port), serverName: "segviz-aggregator"),
                              onServerRunning: { channel in
                                  let p = channel.localAddress?.port ?? port
                                  log("listening on http://\(host):\(p)")
                                  onListening(p)
                              })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            group.addTask {
                while await !coordinator.finished {
                    await coordinator.tick()
                    try await Task.sleep(nanoseconds: 100_000_000)
                }
                try await Task.sleep(nanoseconds: UInt64(lingerSeconds * 1e9))
            }
            _ = try await group.next()
            group.cancelAll()
        }
    }
}
