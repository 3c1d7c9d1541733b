import Foundation
import SecureAggregation
import Testing
@testable import Federation

/// Every textual form of the identity key material in `keysDirectory`'s `*.key` files: the file's base64
/// payload, the 64-byte secret key and its 32-byte seed in hex (both cases), base64, and as Swift prints a
/// byte array (decimal list, first 8 bytes).
func keyMaterialPatterns(keysDirectory: String) throws -> [(what: String, text: String)] {
    var out: [(String, String)] = []
    for name in try FileManager.default.contentsOfDirectory(atPath: keysDirectory) where name.hasSuffix(".key") {
        let text = try String(contentsOfFile: "\(keysDirectory)/\(name)", encoding: .utf8)
        let payload = try #require(text.split(separator: "\n").first { !$0.hasPrefix("untrusted comment:") })
        let b = try #require(Data(base64Encoded: String(payload))).map { $0 }
        let secret = Array(b[62..<126]), seed = Array(secret[0..<32])
        out.append(("\(name) payload", String(payload)))
        for (what, bytes) in [("secret key", secret), ("seed", seed)] {
            let h = Hex.encode(bytes)
            out += [("\(name) \(what) hex", h), ("\(name) \(what) HEX", h.uppercased()),
                    ("\(name) \(what) base64", Data(bytes).base64EncodedString()),
                    ("\(name) \(what) decimal", bytes.prefix(8).map(String.init).joined(separator: ", "))]
        }
    }
    return out
}

/// Records an issue for every piece of key material found in `logs` (name -> text).
func expectNoKeyMaterial(in logs: [String: String], keysDirectory: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let patterns = try keyMaterialPatterns(keysDirectory: keysDirectory)
    #expect(!patterns.isEmpty, "no key files in \(keysDirectory)", sourceLocation: sourceLocation)
    #expect(logs.values.contains { !$0.isEmpty }, "every log is empty", sourceLocation: sourceLocation)
    for (log, text) in logs {
        for p in patterns where text.contains(p.text) {
            Issue.record("\(log) contains \(p.what)", sourceLocation: sourceLocation)
        }
    }
}

@Suite(.timeLimit(.minutes(5))) struct SecretHygieneTests {
    /// The library loader refuses a secret key that group or others may read, naming the file and the fix.
    @Test(arguments: [0o644, 0o640, 0o604, 0o660])
    func readableKeyFileIsRefused(mode: Int) throws {
        let dir = try temporaryDirectory()
        try KeyFiles.generate(id: "node-a", directory: dir)
        let path = KeyFiles.paths(id: "node-a", directory: dir).secretKey
        #expect(chmod(path, mode_t(mode)) == 0)
        #expect(throws: FederationError.keyReadableByOthers(path: path, mode: mode)) { try KeyFiles.loadSecretKey(path: path) }
        // The sentence a user reads names the fix.
        #expect(FederationError.keyReadableByOthers(path: path, mode: mode).description.hasSuffix("run: chmod 600 \(path)"))
        #expect(chmod(path, 0o600) == 0)
        #expect(throws: Never.self) { try KeyFiles.loadSecretKey(path: path) }
    }

    /// `segviz node` and `segviz aggregator` exit non-zero on such a key and say which file and why.
    @Test func commandsRefuseReadableKeyFiles() throws {
        let dir = try temporaryDirectory()
        _ = try FederationSetup.create(keysDirectory: dir, name: "perm-test", url: "http://127.0.0.1:9",
                                       nodes: [.init(id: "node-a", organs: ["liver"]), .init(id: "node-b", organs: ["spleen"])])
        let fed = "\(dir)/federation.json"
        for p in ["\(dir)/node-a.key", "\(dir)/aggregator.key"] { #expect(chmod(p, 0o644) == 0) }
        let node = try run([segvizExecutable(), "node", "--federation", fed, "--id", "node-a", "--key", "\(dir)/node-a.key",
                            "--dataset", dir, "--labels", "msd-liver"])
        #expect(node.status != 0)
        #expect(node.output.contains("\(dir)/node-a.key") && node.output.contains("readable by others"), "\(node.output)")
        let agg = try run([segvizExecutable(), "aggregator", "--federation", fed, "--state", "\(dir)/state"])
        #expect(agg.status != 0)
        #expect(agg.output.contains("\(dir)/aggregator.key") && agg.output.contains("readable by others"), "\(agg.output)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/state/ledger.sqlite"))
    }

    /// A key loaded from a symbolic link is checked by the mode of the file it names.
    @Test func symlinkedKeyIsJudgedByItsTarget() throws {
        let dir = try temporaryDirectory()
        try KeyFiles.generate(id: "node-a", directory: dir)
        let path = KeyFiles.paths(id: "node-a", directory: dir).secretKey
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/link.key", withDestinationPath: path)
        #expect(throws: Never.self) { try KeyFiles.loadSecretKey(path: "\(dir)/link.key") }
        #expect(chmod(path, 0o644) == 0)
        #expect(throws: FederationError.keyReadableByOthers(path: "\(dir)/link.key", mode: 0o644)) {
            try KeyFiles.loadSecretKey(path: "\(dir)/link.key")
        }
    }

    /// The log grep itself: every way a careless log line could show a key is caught.
    @Test func logGrepFindsPlantedKeyMaterial() throws {
        let dir = try temporaryDirectory()
        try KeyFiles.generate(id: "node-a", directory: dir)
        let keyPath = KeyFiles.paths(id: "node-a", directory: dir).secretKey
        let key = try KeyFiles.loadSecretKey(path: keyPath)
        let seed = key.signingKey.exportSeed(), secret = key.secretBytes
        let planted = [
            "key file": try String(contentsOfFile: keyPath, encoding: .utf8),
            "seed hex": "seed=" + Hex.encode(seed),
            "secret HEX": secret.map { String(format: "%02X", $0) }.joined() + " end",
            "seed base64": "k \(Data(seed).base64EncodedString())",
            "secret printed": "secret: \(secret)",
        ]
        let patterns = try keyMaterialPatterns(keysDirectory: dir)
        for (what, text) in planted { #expect(patterns.contains { text.contains($0.text) }, "\(what) not caught") }
    }

    /// Values holding secrets print, interpolate, dump and reflect without their bytes.
    @Test func secretsAreRedactedInEveryTextualForm() throws {
        let dir = try temporaryDirectory()
        try KeyFiles.generate(id: "node-a", directory: dir)
        let keyPath = KeyFiles.paths(id: "node-a", directory: dir).secretKey
        let key = try KeyFiles.loadSecretKey(path: keyPath)
        let file = try Minisign.SecretKeyFile(keyID: key.publicKey.keyID, secretKey: key.secretBytes)
        let agreement = try KeyAgreement.PrivateKey(rawRepresentation: SecureRandom.bytes(32))
        let secret = SecretBytes(SecureRandom.bytes(32))
        let share = Shamir.Share(x: 3, value: SecureRandom.bytes(32))
        func texts(_ v: Any) -> [String] {
            var d = ""
            dump(v, to: &d)
            return ["\(v)", String(describing: v), String(reflecting: v), d]
        }
        let forms = texts(key) + texts(key.signingKey) + texts(file) + texts(agreement) + texts(secret)
            + texts([key]) + texts(Optional(file)) + texts(share) + texts([share])
        let logs = Dictionary(uniqueKeysWithValues: forms.enumerated().map { ("form \($0.offset)", $0.element) })
        try expectNoKeyMaterial(in: logs, keysDirectory: dir)
        for (bytes, what) in [(agreement.exportRawRepresentation(), "X25519 key"), (secret.exportBytes(), "secret bytes"),
                              (share.value, "Shamir share")] {
            let h = Hex.encode(bytes), dec = bytes.prefix(8).map(String.init).joined(separator: ", ")
            for f in forms { #expect(!f.contains(h) && !f.contains(dec), "\(what) shown in: \(f)") }
        }
        #expect("\(secret)" == "SecretBytes(32 bytes, redacted)")
    }
}
