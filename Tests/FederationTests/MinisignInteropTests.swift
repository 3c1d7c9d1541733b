import Foundation
import Testing
@testable import Federation

/// Runs a command, returning its exit status and combined output.
func run(_ args: [String], cwd: String? = nil) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

func temporaryDirectory() throws -> String {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("segviz-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d.path
}

@Suite struct MinisignInteropTests {
    @Test func keygenWritesMinisignCompatibleKeysAndRefusesOverwrite() throws {
        let dir = try temporaryDirectory()
        let pub = try KeyFiles.generate(id: "node-a", directory: dir)
        let (pubPath, keyPath) = KeyFiles.paths(id: "node-a", directory: dir)
        let mode = (try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as! NSNumber).intValue
        #expect(mode == 0o600)
        #expect(try KeyFiles.loadPublicKey(path: pubPath) == pub)
        #expect(try KeyFiles.loadSecretKey(path: keyPath).publicKey == pub)
        #expect(throws: FederationError.self) { try KeyFiles.generate(id: "node-a", directory: dir) }
        chmod(keyPath, 0o644)
        #expect(throws: FederationError.self) { try KeyFiles.loadSecretKey(path: keyPath) }
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
