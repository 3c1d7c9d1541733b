import Foundation
import Testing
@testable import Federation

/// Issue 22, failures 2 and 4 (the command-line half): through the `segviz` binary, a second aggregator on a
/// locked state folder is refused naming the holder's pid and overwrites nothing; a port in use is named and
/// leaves no state folder; `audit` and the aggregator's start check every model file against the ledger; a
/// pinned https URL is neither served over plain HTTP nor downgraded by a node's `--aggregator`.
@Suite(.serialized) struct StateFolderTests {
    static func waitFor(_ text: String, in child: Child, seconds: Double) async -> Bool {
        let until = Date().addingTimeInterval(seconds)
        while Date() < until {
            if child.output.contains(text) { return true }
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        return false
    }

    static func fileHash(_ path: String) throws -> String { hex(FedCrypto.blake2b256([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))) }

    @Test(.timeLimit(.minutes(5))) func aSecondAggregatorIsRefusedNamingTheHolderAndOverwritesNothing() async throws {
        let fed = try ProcessFederation(rounds: 1)
        let first = try fed.startAggregator()
        defer { first.kill9() }
        #expect(await Self.waitFor("listening on", in: first, seconds: 60), "\(first.output)")
        let model0 = ModelStore.path(stateDirectory: fed.statePath, round: 0)
        let before = try Self.fileHash(model0), sigBefore = try Self.fileHash(ModelSignature.signaturePath(for: model0))
        let second = try run([segvizExecutable(), "aggregator", "--federation", fed.fedPath, "--state", fed.statePath,
                              "--listen", "127.0.0.1:\(freePort())"])
        #expect(second.status == 1, "\(second.output)")
        #expect(second.output.contains("in use by another aggregator (pid \(first.process.processIdentifier))"), "\(second.output)")
        #expect(try Self.fileHash(model0) == before && Self.fileHash(ModelSignature.signaturePath(for: model0)) == sigBefore)
        // A crash releases the lock: after kill -9 a new aggregator starts on the folder.
        first.kill9()
        _ = await first.wait(seconds: 10)
        let third = try fed.startAggregator(log: "third.log")
        defer { third.kill9() }
        #expect(await Self.waitFor("listening on", in: third, seconds: 60), "\(third.output)")
    }

    @Test func aPortInUseIsNamedAndLeavesNoStateFolder() throws {
        let dir = try FederationStartupTests.federationFolder()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        #expect(listen(fd, 1) == 0)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        let state = dir + "/state"
        let r = try run([segvizExecutable(), "aggregator", "--federation", dir + "/keys/federation.json", "--state", state,
                         "--listen", "127.0.0.1:\(port)"])
        #expect(r.status == 1 && r.output.contains("cannot listen on 127.0.0.1:\(port): address already in use"), "\(r.output)")
        #expect(!FileManager.default.fileExists(atPath: state), "a half-made state folder was left")
    }

    /// A validly signed but different round-1 model put in place of the recorded one (what a second aggregator
    /// on the same folder did): `audit` fails naming the file, and the aggregator refuses to start.
    @Test(.timeLimit(.minutes(5))) func auditAndStartCheckEveryModelAgainstTheLedger() async throws {
        let dir = try temporaryDirectory()
        let port = freePort()
        let f = try smallFederation(dir: dir, rounds: 1, port: port)
        let sink = LogSink()
        let aggKey = try KeyFiles.loadSecretKey(path: dir + "/keys/aggregator.key")
        let coord = try Coordinator(federation: f, stateDirectory: dir + "/state", key: aggKey, log: { sink.append($0) })
        _ = try await HonestExitTests.runFederation(f, dir: dir, coordinator: coord, nodes: [0, 1, 2], sink: sink, port: port)
        let audit = try run([segvizExecutable(), "audit", "--state", dir + "/state", "--federation", dir + "/keys/federation.json"])
        #expect(audit.status == 0 && audit.output.contains("model files verify"), "\(audit.output)")
        // Re-sign another model as round 1, exactly as a second aggregator would have.
        let store = try ModelStore(directory: dir + "/state", federation: f)
        _ = try store.write(model: store.initialModel(), round: 1, participants: [], previousModelHash: Ledger.genesisHash,
                            previousRecordHash: Ledger.genesisHash, key: aggKey)
        let bad = try run([segvizExecutable(), "audit", "--state", dir + "/state", "--federation", dir + "/keys/federation.json"])
        #expect(bad.status == 1 && bad.output.contains("PROBLEM: round 1: \(store.path(round: 1))"), "\(bad.output)")
        let agg = try run([segvizExecutable(), "aggregator", "--federation", dir + "/keys/federation.json", "--state", dir + "/state",
                           "--listen", "127.0.0.1:\(freePort())"])
        #expect(agg.status == 1 && agg.output.contains("global-r0001.safetensors") && agg.output.contains("not the ledger's"), "\(agg.output)")
    }

    @Test func aPinnedHttpsURLIsNeitherServedPlainNorDowngraded() throws {
        let dir = try FederationStartupTests.federationFolder()
        let (_, _, pem) = try TLSTests().selfSigned(dir, name: "server")
        let port = freePort()
        let https = try FederationStartupTests.variant(dir, "https.json", [("aggregator.url", "https://127.0.0.1:\(port)"),
                                                                            ("aggregator.tlsCertificate", pem)])
        let state = dir + "/state"
        let agg = try run([segvizExecutable(), "aggregator", "--federation", https, "--state", state])
        #expect(agg.status == 1 && agg.output.contains("aggregator.url") && agg.output.contains("--tls-cert"), "\(agg.output)")
        #expect(!FileManager.default.fileExists(atPath: state))
        let node = try run([segvizExecutable(), "node", "--federation", https, "--id", "liver-a", "--key", dir + "/keys/liver-a.key",
                            "--dataset", dir + "/none", "--labels", "msd-liver", "--aggregator", "http://127.0.0.1:\(port)"])
        #expect(node.status == 1 && node.output.contains("--aggregator: http://127.0.0.1:\(port) is not https"), "\(node.output)")
    }
}

/// `segviz infer --overlay`: the mask drawn over the CT, axial and coronal, as a PNG beside the NIfTI mask.
@Suite struct InferOverlayTests {
    @Test(.timeLimit(.minutes(5))) func inferWritesAnOverlayPNG() throws {
        let fed = try ProcessFederation(rounds: 1)
        let key = try KeyFiles.loadSecretKey(path: "\(fed.dir)/keys/aggregator.key")
        _ = try Coordinator(federation: fed.federation, stateDirectory: fed.statePath, key: key, log: { _ in })
        let ct = try FileManager.default.contentsOfDirectory(atPath: "\(fed.dir)/external/img").first!
        let png = "\(fed.dir)/overlay.png"
        let r = try run([segvizExecutable(), "infer", "--model", ModelStore.path(stateDirectory: fed.statePath, round: 0),
                         "--federation", fed.fedPath, "--input", "\(fed.dir)/external/img/\(ct)", "--output", "\(fed.dir)/mask.nii.gz",
                         "--overlay", png])
        #expect(r.status == 0 && r.output.contains("wrote \(png)"), "\(r.output)")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: png)))
        #expect(Array(bytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])  // the PNG signature (RFC 2083)
        let bad = try run([segvizExecutable(), "infer", "--model", "x", "--federation", fed.fedPath, "--input", "y",
                           "--output", "\(fed.dir)/m.nii.gz", "--overlay", "\(fed.dir)/o.jpg"])
        #expect(bad.status != 0 && bad.output.contains("--overlay must end in .png"), "\(bad.output)")
    }
}
