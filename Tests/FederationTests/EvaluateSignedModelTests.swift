import Foundation
import Imaging
import Testing
@testable import Federation

/// `segviz evaluate` on a signed global model: scored only after its signature verifies against the aggregator's
/// key; refused without a key, with a foreign key, or when a byte of the model changed (nothing is scored then).
@Suite struct EvaluateSignedModelTests {
    func setup() throws -> (dir: String, model: String, fed: String, foreign: String, data: String) {
        let m = try ArtifactTests().signedModel()
        let gen = PhantomGenerator(dims: [24, 24, 16], spacing: SIMD3(12, 12, 12))
        _ = try PhantomDatasetWriter(generator: gen, layout: .msd, annotate: .spleen, seed: 3).write(to: URL(fileURLWithPath: m.dir + "/data"), cases: 1)
        return (m.dir, m.model, m.fed, m.foreign, m.dir + "/data")
    }

    @Test(.timeLimit(.minutes(5))) func verifiedModelIsScoredAndTamperedOnesAreRefused() throws {
        let s = try setup()
        let ok = try run([segvizExecutable(), "evaluate", "--model", s.model, "--federation", s.fed, "--dataset", s.data, "--labels", "msd-spleen"])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.output.contains("verified global model round 0") && ok.output.contains("mean spleen Dice"), "\(ok.output)")

        let noKey = try run([segvizExecutable(), "evaluate", "--model", s.model, "--dataset", s.data, "--labels", "msd-spleen"])
        #expect(noKey.status != 0 && noKey.output.contains("give --pubkey or --federation"), "\(noKey.output)")
        #expect(!noKey.output.contains("mean spleen Dice"))

        let foreign = try run([segvizExecutable(), "evaluate", "--model", s.model, "--pubkey", s.foreign, "--dataset", s.data, "--labels", "msd-spleen"])
        #expect(foreign.status != 0 && foreign.output.contains("not by the expected key"), "\(foreign.output)")
        #expect(!foreign.output.contains("mean spleen Dice"))

        var bytes = try Data(contentsOf: URL(fileURLWithPath: s.model))
        bytes[bytes.count - 1] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: s.model))
        let tampered = try run([segvizExecutable(), "evaluate", "--model", s.model, "--federation", s.fed, "--dataset", s.data, "--labels", "msd-spleen"])
        #expect(tampered.status != 0 && tampered.output.contains("does not match the file"), "\(tampered.output)")
        #expect(!tampered.output.contains("mean spleen Dice"))
    }
}
