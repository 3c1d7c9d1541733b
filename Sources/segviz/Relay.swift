import ArgumentParser
import FederationTools

/// `segviz relay` (hidden, for the fault tests): FederationTools' TCP relay with latency and loss, where the
/// kernel has no netem qdisc.
struct Relay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Testing: TCP relay with latency and loss.", shouldDisplay: false)

    @Option(help: "Listen address HOST:PORT (IPv4).") var listen: String
    @Option(help: "Upstream address HOST:PORT (IPv4).") var to: String
    @Option(help: "One-way delay per chunk, milliseconds.") var delayMs: Double = 0
    @Option(help: "Uniform extra delay in 0..<jitter, milliseconds.") var jitterMs: Double = 0
    @Option(help: "Probability that a chunk is lost once and retransmitted after the RTO.") var lossRate: Double = 0
    @Option(help: "Probability that a chunk cuts its connection instead.") var resetRate: Double = 0
    @Option(help: "Seed of the loss and jitter draws.") var seed: UInt64 = 1

    var relay: TCPRelay {
        var r = TCPRelay(listen: listen, to: to)
        r.delayMs = delayMs; r.jitterMs = jitterMs; r.lossRate = lossRate; r.resetRate = resetRate; r.seed = seed
        return r
    }

    func validate() throws {
        do { try relay.validate() } catch { throw ValidationError("\(error)") }
    }

    func run() throws {
        try failing { try relay.run { logLine("relay", $0) } }
    }
}
