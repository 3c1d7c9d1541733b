import Foundation
import Testing
@testable import Federation

/// Signed global-model artifacts through `segviz verify`: accepted when intact, refused (non-zero exit with the
/// reason) for a flipped byte, a foreign signer, a missing or malformed signature.
@Suite struct ArtifactTests {
    /// A signed round-0 model in a fresh state directory, plus the federation file and a foreign key.
    func signedModel() throws -> (dir: String, model: String, fed: String, foreign: String) {
        let dir = try temporaryDirectory()
        let f = try smallFederation(dir: dir, rounds: 1, port: 1)
        let key = try KeyFiles.loadSecretKey(path: dir + "/keys/aggregator.key")
        let store = try ModelStore(directory: dir + "/state", federation: f)
        _ = try store.latest(ledger: [], key: key)
        try KeyFiles.generate(id: "foreign", directory: dir + "/other")
        return (dir, store.path(round: 0), dir + "/keys/federation.json", dir + "/other/foreign.pub")
    }

    @Test func intactModelVerifiesAndPrintsItsManifest() throws {
        let s = try signedModel()
        let r = try run([segvizExecutable(), "verify", "--model", s.model, "--federation", s.fed])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("format: segviz-global-model/2"))
        #expect(r.output.contains("round: 0"))
        let m = try run(["minisign", "-Vm", s.model, "-p", s.dir + "/keys/aggregator.pub"])
        #expect(m.status == 0, "\(m.output)")
    }

    @Test func everyModifiedByteIsRefused() throws {
        let s = try signedModel()
        let original = try Data(contentsOf: URL(fileURLWithPath: s.model))
        for offset in [0, 9, original.count / 2, original.count - 1] {
            var d = original
            d[offset] ^= 0x01
            try d.write(to: URL(fileURLWithPath: s.model))
            let r = try run([segvizExecutable(), "verify", "--model", s.model, "--federation", s.fed])
            #expect(r.status != 0)
            #expect(r.output.contains("does not match the file"), "\(r.output)")
        }
    }

    @Test func foreignSignerMissingAndMalformedSignaturesAreRefused() throws {
        let s = try signedModel()
        let foreign = try run([segvizExecutable(), "verify", "--model", s.model, "--pubkey", s.foreign])
        #expect(foreign.status != 0)
        #expect(foreign.output.contains("not by the expected key"), "\(foreign.output)")

        let sig = s.model + ".minisig"
        let text = try String(contentsOfFile: sig, encoding: .utf8)
        try (text.replacingOccurrences(of: "trusted comment: ", with: "trusted comment: x")).write(toFile: sig, atomically: true, encoding: .utf8)
        let comment = try run([segvizExecutable(), "verify", "--model", s.model, "--federation", s.fed])
        #expect(comment.status != 0)
        #expect(comment.output.contains("trusted comment was altered"), "\(comment.output)")

        try "untrusted comment: x\nnot base64!\n".write(toFile: sig, atomically: true, encoding: .utf8)
        let malformed = try run([segvizExecutable(), "verify", "--model", s.model, "--federation", s.fed])
        #expect(malformed.status != 0)
        #expect(malformed.output.contains("malformed signature"), "\(malformed.output)")

        try FileManager.default.removeItem(atPath: sig)
        let missing = try run([segvizExecutable(), "verify", "--model", s.model, "--federation", s.fed])
        #expect(missing.status != 0)
        #expect(missing.output.contains("signature file is missing"), "\(missing.output)")

        let infer = try run([segvizExecutable(), "infer", "--model", s.model, "--federation", s.fed,
                             "--input", "/nonexistent.nii.gz", "--output", s.dir + "/mask.nii.gz"])
        #expect(infer.status != 0)
        #expect(!FileManager.default.fileExists(atPath: s.dir + "/mask.nii.gz"))
    }
}
