import Foundation
import NN

/// A TCP relay that adds latency and loss between a node and the aggregator, where the kernel has no netem
/// qdisc (`segviz relay`, hidden, for the fault tests).
///
/// Every chunk read from one side is written to the other after `delayMs` plus a uniform jitter. Loss is
/// modelled as TCP delivers it to the application: a lost segment arrives after a retransmission timeout
/// (200 ms, doubling while losses follow each other), and everything behind it waits (order is kept).
/// With `resetRate`, a chunk may instead cut its connection both ways (a broken path).
public struct TCPRelay: Sendable {
    /// Listen address HOST:PORT (IPv4).
    public var listen: String
    /// Upstream address HOST:PORT (IPv4).
    public var to: String
    /// One-way delay per chunk, milliseconds.
    public var delayMs: Double = 0
    /// Uniform extra delay in 0..<jitter, milliseconds.
    public var jitterMs: Double = 0
    /// Probability that a chunk is lost once and retransmitted after the RTO.
    public var lossRate: Double = 0
    /// Probability that a chunk cuts its connection instead.
    public var resetRate: Double = 0
    /// Seed of the loss and jitter draws.
    public var seed: UInt64 = 1

    /// A relay from `listen` to `to` without delay or loss (set the properties for those).
    public init(listen: String, to: String) { self.listen = listen; self.to = to }

    /// Refuses probabilities outside 0...1 and negative delays.
    public func validate() throws {
        for (name, p) in [("--loss-rate", lossRate), ("--reset-rate", resetRate)] where !(0 ... 1).contains(p) {
            throw ToolError.invalid("\(name) must be within 0...1, got \(p)")
        }
        guard delayMs >= 0, jitterMs >= 0 else { throw ToolError.invalid("--delay-ms and --jitter-ms must be >= 0") }
    }

    /// Listens and relays until the process ends; `log` gets one line when listening starts.
    public func run(log: (String) -> Void) throws -> Never {
        let (lh, lp) = try parseHostPort(listen)
        let upstream = try SocketAddress4(try parseHostPort(to))
        let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = try SocketAddress4((lh, lp)).raw
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard server >= 0, bound == 0, Glibc.listen(server, 64) == 0 else {
            throw ToolError.invalid("relay: cannot listen on \(listen): \(String(cString: strerror(errno)))")
        }
        signal(SIGPIPE, SIG_IGN)  // a peer gone mid-write is an error return, not the relay's death
        let chance = Chance(seed: seed)
        log("listening on \(listen), relaying to \(to): delay \(delayMs) ms + jitter \(jitterMs) ms, loss \(lossRate), reset \(resetRate)")
        while true {
            let client = accept(server, nil, nil)
            if client < 0 { if errno == EINTR { continue }; throw ToolError.invalid("relay: accept failed: \(String(cString: strerror(errno)))") }
            let up = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var u = upstream.raw
            let ok = withUnsafePointer(to: &u) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(up, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard ok == 0 else { close(client); close(up); continue }  // the node sees a closed connection
            let link = Link(a: client, b: up)
            for (from, to) in [(client, up), (up, client)] {
                DelayLine(from: from, to: to, link: link, relay: self, chance: chance).start()
            }
        }
    }
}

/// An IPv4 socket address from HOST:PORT with a numeric host.
struct SocketAddress4 {
    var raw = sockaddr_in()
    init(_ hp: (String, Int)) throws {
        raw.sin_family = sa_family_t(AF_INET)
        raw.sin_port = in_port_t(UInt16(hp.1).bigEndian)
        guard inet_pton(AF_INET, hp.0 == "localhost" ? "127.0.0.1" : hp.0, &raw.sin_addr) == 1 else {
            throw ToolError.invalid("relay: '\(hp.0)' is not a numeric IPv4 address")
        }
    }
}

/// Both sockets of one relayed connection; closed once, by whichever direction ends first with an error.
final class Link: @unchecked Sendable {  // `lock` guards `open`; the descriptors are immutable.
    let a: Int32, b: Int32
    private let lock = NSLock()
    private var open = 2
    init(a: Int32, b: Int32) { self.a = a; self.b = b }
    /// Cuts the connection both ways.
    func reset() { shutdown(a, Int32(SHUT_RDWR)); shutdown(b, Int32(SHUT_RDWR)) }
    /// One direction finished; the second one closes the descriptors.
    func finished() { lock.withLock { open -= 1; if open == 0 { close(a); close(b) } } }
}

/// Seeded draws shared by every connection.
final class Chance: @unchecked Sendable {  // `lock` guards `state`.
    private let lock = NSLock()
    private var state: SplitMix64
    init(seed: UInt64) { state = SplitMix64(seed: seed) }
    /// Uniform in [0, 1).
    func next() -> Double { lock.withLock { Double(state.next() >> 11) / Double(1 << 53) } }
}

/// One direction of a connection: a reader thread queues chunks with their release time, a writer thread
/// sends each when its time comes.
final class DelayLine: @unchecked Sendable {  // `ready` (an NSCondition) guards `queue` and `ended`.
    let from: Int32, to: Int32, link: Link, chance: Chance
    let delay: Double, jitter: Double, loss: Double, resetRate: Double
    private let ready = NSCondition()
    private var queue: [(release: Date, bytes: [UInt8])] = []
    private var ended = false

    init(from: Int32, to: Int32, link: Link, relay: TCPRelay, chance: Chance) {
        self.from = from; self.to = to; self.link = link; self.chance = chance
        delay = relay.delayMs / 1000; jitter = relay.jitterMs / 1000; loss = relay.lossRate; resetRate = relay.resetRate
    }

    func start() {
        Thread.detachNewThread { self.readLoop() }
        Thread.detachNewThread { self.writeLoop() }
    }

    private func readLoop() {
        var buffer = [UInt8](repeating: 0, count: 16384)
        var last = Date.distantPast, rto = 0.2
        while true {
            let n = read(from, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            if chance.next() < resetRate { link.reset(); break }
            var wait = delay + jitter * chance.next()
            if chance.next() < loss { wait += rto; rto = min(rto * 2, 3) } else { rto = 0.2 }
            last = max(last, Date().addingTimeInterval(wait))
            ready.withLock { queue.append((last, Array(buffer[0 ..< n]))); ready.signal() }
        }
        ready.withLock { ended = true; ready.signal() }
    }

    private func writeLoop() {
        while true {
            ready.lock()
            while queue.isEmpty && !ended { ready.wait() }
            if queue.isEmpty { ready.unlock(); break }
            let (release, bytes) = queue.removeFirst()
            ready.unlock()
            let pause = release.timeIntervalSinceNow
            if pause > 0 { Thread.sleep(forTimeInterval: pause) }
            var off = 0
            while off < bytes.count {
                let w = bytes[off...].withUnsafeBytes { write(to, $0.baseAddress, $0.count) }
                if w < 0 && errno == EINTR { continue }
                if w <= 0 { link.reset(); ready.withLock { queue = [] }; link.finished(); return }
                off += w
            }
        }
        shutdown(to, Int32(SHUT_WR))  // pass the end of this direction on
        link.finished()
    }
}
