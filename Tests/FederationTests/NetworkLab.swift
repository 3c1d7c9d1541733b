import Foundation
@testable import Federation

/// Linux network namespaces for the fault tests: one (`agg`) for the aggregator and one per node, each node
/// joined to `agg` by its own veth pair (node i is 10.231.i.2, the aggregator 10.231.i.1 on that link), so
/// a node's link can be cut alone. Names carry the test process id and a random tag: parallel runs never
/// collide, and namespaces left by a killed run (its process gone) are removed when the next lab starts.
final class NetworkLab: @unchecked Sendable {
    /// iproute2's `ip`, if installed.
    static let ip: String? = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    /// The port the aggregator listens on in its namespace.
    static let port = 8750

    let tag: String
    let nodes: Int
    private let lock = NSLock()
    private var children: [Child] = []
    private var created: [String] = []

    var aggregatorNamespace: String { "svz-\(tag)-agg" }
    func nodeNamespace(_ i: Int) -> String { "svz-\(tag)-n\(i)" }
    /// The aggregator's address as node `i` reaches it.
    func aggregatorURL(forNode i: Int) -> String { "http://10.231.\(i).1:\(Self.port)" }
    /// The command prefix that runs a program inside `namespace`.
    func launcher(_ namespace: String) -> [String] { [Self.ip!, "netns", "exec", namespace] }

    /// Why namespaces cannot be used on this machine, or nil when they can.
    static func unavailableReason() -> String? {
        guard let ip else { return "iproute2's `ip` is not installed" }
        let probe = "svz-probe-\(getpid())"
        guard let r = try? run([ip, "netns", "add", probe]), r.status == 0 else {
            return "`ip netns add` is not allowed here (needs root or CAP_NET_ADMIN)"
        }
        _ = try? run([ip, "netns", "del", probe])
        return nil
    }

    /// Builds a lab with `nodes` node namespaces, runs `body`, and always tears the lab down (processes
    /// killed, namespaces deleted), also when `body` throws.
    static func with<T>(nodes: Int, _ body: (NetworkLab) async throws -> T) async throws -> T {
        removeStale()
        let lab = NetworkLab(nodes: nodes)
        do {
            try lab.build()
            let result = try await body(lab)
            lab.tearDown()
            return result
        } catch {
            lab.tearDown()
            throw error
        }
    }

    private init(nodes: Int) {
        tag = "\(getpid())-\(String(UInt32.random(in: 0 ... .max), radix: 36))"
        self.nodes = nodes
    }

    /// Runs `ip ARGS`, throwing with its output when it fails.
    func ip(_ args: String...) throws {
        let r = try run([Self.ip!] + args)
        guard r.status == 0 else { throw LabError(message: "ip \(args.joined(separator: " ")): \(r.output)") }
    }

    private func addNamespace(_ name: String) throws {
        try ip("netns", "add", name)
        lock.withLock { created.append(name) }
        try ip("-n", name, "link", "set", "lo", "up")
    }

    private func build() throws {
        try addNamespace(aggregatorNamespace)
        for i in 0 ..< nodes {
            let ns = nodeNamespace(i)
            try addNamespace(ns)
            try ip("link", "add", "agg\(i)", "netns", aggregatorNamespace, "type", "veth", "peer", "name", "eth0", "netns", ns)
            try ip("-n", aggregatorNamespace, "addr", "add", "10.231.\(i).1/24", "dev", "agg\(i)")
            try ip("-n", ns, "addr", "add", "10.231.\(i).2/24", "dev", "eth0")
            try ip("-n", aggregatorNamespace, "link", "set", "agg\(i)", "up")
            try ip("-n", ns, "link", "set", "eth0", "up")
        }
    }

    /// Cuts (`up == false`) or restores node `i`'s link to the aggregator.
    func setLink(node i: Int, up: Bool) throws {
        try ip("-n", aggregatorNamespace, "link", "set", "agg\(i)", up ? "up" : "down")
    }

    /// Cuts node `i`'s link as soon as the file `log` contains `text`. A dedicated thread polls every 10 ms,
    /// so a test runner whose threads are busy with other tests cannot delay the cut. False when `text` did
    /// not appear within `seconds` or `ip` failed.
    func cutLink(node i: Int, when text: String, appearsIn log: String, seconds: Double = 120) async -> Bool {
        await withCheckedContinuation { (done: CheckedContinuation<Bool, Never>) in
            Thread.detachNewThread {
                let until = Date().addingTimeInterval(seconds)
                while Date() < until {
                    if let s = try? String(contentsOfFile: log, encoding: .utf8), s.contains(text) {
                        done.resume(returning: (try? self.setLink(node: i, up: false)) != nil)
                        return
                    }
                    usleep(10_000)
                }
                done.resume(returning: false)
            }
        }
    }

    /// Keeps `child` to be killed at tear-down; returns it.
    @discardableResult
    func track(_ child: Child) -> Child {
        lock.withLock { children.append(child) }
        return child
    }

    private func tearDown() {
        let (kids, names) = lock.withLock { (children, created) }
        for c in kids { c.kill9() }
        for c in kids { c.process.waitUntilExit() }
        for n in names { _ = try? run([Self.ip!, "netns", "del", n]) }
    }

    /// Deletes `svz-PID-*` namespaces whose creating test process no longer runs.
    private static func removeStale() {
        guard let ip, let list = try? run([ip, "netns", "list"]) else { return }
        for line in list.output.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            let parts = name.split(separator: "-")
            guard parts.count >= 3, parts[0] == "svz", let pid = Int32(parts[1]), pid != getpid(),
                  kill(pid, 0) != 0 else { continue }
            _ = try? run([ip, "netns", "del", name])
        }
    }

    struct LabError: Error, CustomStringConvertible {
        let message: String
        var description: String { "network lab: \(message)" }
    }
}

extension Child {
    /// Waits (up to `seconds`) until the output contains `text`; true when it did.
    func waitForOutput(_ text: String, seconds: Double) async -> Bool {
        let until = Date().addingTimeInterval(seconds)
        while Date() < until {
            if output.contains(text) { return true }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        return output.contains(text)
    }
}

extension ProcessFederation {
    /// What is wrong with the aggregator's state after a run: each completed round's model file must be on
    /// disk, signed by the aggregator, with the hash the ledger records; no temporary file may be left.
    func stateProblems(_ v: LedgerVerification) throws -> [String] {
        let key = try KeyFiles.loadPublicKey(path: "\(dir)/keys/aggregator.pub")
        var problems = v.problems
        for r in v.records where r.status == .completed {
            let path = ModelStore.path(stateDirectory: statePath, round: r.round)
            do {
                let (bytes, _) = try ModelSignature.verifyFile(path: path, publicKey: key)
                if hex(FedCrypto.blake2b256(bytes)) != r.modelHash { problems.append("\(path): hash is not the recorded one") }
            } catch { problems.append("\(path): \(error)") }
        }
        let stray = try FileManager.default.contentsOfDirectory(atPath: "\(statePath)/models").filter { $0.hasPrefix(".") }
        if !stray.isEmpty { problems.append("temporary files left: \(stray)") }
        return problems
    }
}
