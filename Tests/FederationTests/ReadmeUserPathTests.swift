import Foundation
import Testing
@testable import Federation

/// Runs the README's user's path (the shell blocks between `<!-- user-path-test:begin -->` and
/// `<!-- user-path-test:end -->`: keygen, phantoms, init, check, the aggregator and two nodes for one round,
/// verify) in a temporary folder with the built `segviz` on PATH, so the documentation cannot drift from the code.
/// The only change: the documented port 8750 becomes a free one.
@Suite struct ReadmeUserPathTests {
    static func commands() throws -> String {
        let readme = try String(contentsOfFile: repositoryRoot() + "/README.md", encoding: .utf8)
        guard let a = readme.range(of: "<!-- user-path-test:begin -->"), let b = readme.range(of: "<!-- user-path-test:end -->"),
              a.upperBound < b.lowerBound else { return "" }
        return readme[a.upperBound ..< b.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("```") }.joined(separator: "\n")
    }

    @Test func theBlockIsThere() throws {
        let c = try Self.commands()
        for step in ["segviz keygen", "segviz init", "segviz federation check", "segviz aggregator", "segviz node", "wait"] {
            #expect(c.contains(step), "README's user's path block lacks \(step)")
        }
    }

    @Test(.timeLimit(.minutes(10))) func readmeCommandsRunAFederation() async throws {
        let dir = try temporaryDirectory()
        let port = freePort()
        let body = try Self.commands().replacingOccurrences(of: "127.0.0.1:8750", with: "127.0.0.1:\(port)")
        let script = "set -e\ntrap 'exit 1' TERM\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\ncd \(dir)\n" + body
        try script.write(toFile: dir + "/user-path.sh", atomically: true, encoding: .utf8)
        let bin = URL(fileURLWithPath: segvizExecutable()).deletingLastPathComponent().path
        let shell = try Child(command: ["/usr/bin/env", "PATH=\(bin):/usr/bin:/bin", "bash", dir + "/user-path.sh"],
                              log: dir + "/user-path.log")
        let status = await shell.wait(seconds: 540)
        if status == nil { kill(shell.process.processIdentifier, SIGTERM); _ = await shell.wait(seconds: 10) }
        #expect(status == 0, "\(shell.output)")
        #expect(shell.output.contains("fingerprint: "), "\(shell.output)")
        #expect(FileManager.default.fileExists(atPath: dir + "/agg-state/models/global-r0001.safetensors"))
        let ledger = try Ledger(path: dir + "/agg-state/ledger.sqlite")
            .verify(aggregatorKey: try KeyFiles.loadPublicKey(path: dir + "/keys/aggregator.pub"))
        #expect(ledger.ok && ledger.records.map(\.status) == [.completed], "\(shell.output)")
    }
}
