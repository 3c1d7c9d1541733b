import Foundation
import Testing
@testable import Federation
import SegVizTesting

/// Runs a command (SegVizTesting's subprocess helper), returning its exit status and combined output.
func run(_ args: [String], cwd: String? = nil) throws -> SubprocessResult {
    try Subprocess.run(args, in: cwd, mergeOutput: true)
}

/// A fresh temporary folder's path (SegVizTesting).
func temporaryDirectory() throws -> String { try TemporaryDirectory.make().path }

@Suite(.timeLimit(.minutes(5))) struct MinisignInteropTests {
    @Test func keygenWritesMinisignCompatibleKeysAndRefusesOverwrite() throws {
        let dir = try temporaryDirectory()
        let pub = try KeyFiles.generate(id: "node-a", directory: dir)
        let (pubPath, keyPath) = KeyFiles.paths(id: "node-a", directory: dir)
        let mode = (try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as! NSNumber).intValue
        #expect(mode == 0o600)
        #expect(try KeyFiles.loadPublicKey(path: pubPath) == pub)
        #expect(try KeyFiles.loadSecretKey(path: keyPath).publicKey == pub)
        #expect(throws: FederationError.keyExists(path: pubPath)) { try KeyFiles.generate(id: "node-a", directory: dir) }
        chmod(keyPath, 0o644)
        #expect(throws: FederationError.keyReadableByOthers(path: keyPath, mode: 0o644)) { try KeyFiles.loadSecretKey(path: keyPath) }
    }

    @Test func minisignVerifiesOurSignatureAndRejectsTampering() throws {
        let dir = try temporaryDirectory()
        try KeyFiles.generate(id: "aggregator", directory: dir)
        let (pubPath, keyPath) = KeyFiles.paths(id: "aggregator", directory: dir)
        let key = try KeyFiles.loadSecretKey(path: keyPath)
        let model = dir + "/global.safetensors"
        try Data((0..<100_000).map { UInt8($0 % 251) }).write(to: URL(fileURLWithPath: model))
        try ModelSignature.signFile(path: model, key: key, trustedComment: "segviz-model round=1")
        let ok = try run(["minisign", "-Vm", model, "-p", pubPath])
        #expect(ok.status == 0, "minisign said: \(ok.output)")
        #expect(ok.output.contains("segviz-model round=1"))
        _ = try ModelSignature.verifyFile(path: model, publicKey: try KeyFiles.loadPublicKey(path: pubPath))

        var bytes = try Data(contentsOf: URL(fileURLWithPath: model))
        bytes[5000] ^= 1
        try bytes.write(to: URL(fileURLWithPath: model))
        let bad = try run(["minisign", "-Vm", model, "-p", pubPath])
        #expect(bad.status != 0)
        #expect(throws: ModelSignature.Failure.badSignature(path: model)) {
            try ModelSignature.verifyFile(path: model, publicKey: try KeyFiles.loadPublicKey(path: pubPath))
        }
    }

    @Test func weVerifyMinisignsOwnSignatureWithOurKey() throws {
        let dir = try temporaryDirectory()
        try KeyFiles.generate(id: "agg", directory: dir)
        let (pubPath, keyPath) = KeyFiles.paths(id: "agg", directory: dir)
        let file = dir + "/x.bin"
        try Data("hello federation".utf8).write(to: URL(fileURLWithPath: file))
        let r = try run(["minisign", "-S", "-s", keyPath, "-m", file, "-t", "made by minisign"])
        #expect(r.status == 0, "minisign said: \(r.output)")
        let (_, comment) = try ModelSignature.verifyFile(path: file, publicKey: try KeyFiles.loadPublicKey(path: pubPath))
        #expect(comment == "made by minisign")
    }
}
