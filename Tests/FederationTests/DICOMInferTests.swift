import Foundation
import Testing
@testable import Federation

/// `segviz infer --input SERIES_FOLDER` writes a NIfTI mask on the series' grid: checked with nibabel (the mask)
/// against pydicom (the series, read by scripts/dicom-oracle.py), on the real 20-slice series in ../shared/data.
@Suite(.enabled(if: DICOMInferOracle.available, "python3 with nibabel, pydicom and pylibjpeg-openjpeg is missing (scripts/install-deps.sh installs them): DICOM infer test skipped"))
struct DICOMInferTests {
    @Test(.timeLimit(.minutes(5))) func maskOfASeriesHasTheSeriesGeometry() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shared = ProcessInfo.processInfo.environment["SEGVIZ_SHARED"].map { URL(fileURLWithPath: $0) }
            ?? repo.deletingLastPathComponent().appendingPathComponent("shared")
        let series = shared.appendingPathComponent("data/ct-dicom-series").path
        let dir = try temporaryDirectory()
        let f = try smallFederation(dir: dir, rounds: 1, port: 1) { $0.training.patch = [32, 32, 16] }
        let key = try KeyFiles.loadSecretKey(path: dir + "/keys/aggregator.key")
        let store = try ModelStore(directory: dir + "/state", federation: f)
        _ = try store.latest(ledger: [], key: key)
        let mask = dir + "/mask.nii.gz"
        let r = try run([segvizExecutable(), "infer", "--model", store.path(round: 0), "--federation", dir + "/keys/federation.json",
                         "--input", series, "--output", mask, "--threads", "2"])
        #expect(r.status == 0, "\(r.output)")
        let oracle = dir + "/oracle"
        let o = try run(["python3", repo.appendingPathComponent("scripts/dicom-oracle.py").path, "read", series, oracle])
        #expect(o.status == 0, "\(o.output)")
        let n = try run(["python3", "-c", """
            import json, sys, nibabel
            m = nibabel.load(sys.argv[1])
            print(json.dumps({"dims": list(m.shape), "affine": m.affine.ravel().tolist()}))
            """, mask])
        #expect(n.status == 0, "\(n.output)")
        let got = try JSONSerialization.jsonObject(with: Data(n.output.utf8)) as! [String: Any]
        let want = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: oracle + ".json"))) as! [String: Any]
        #expect(got["dims"] as? [Int] == want["dims"] as? [Int] && want["dims"] as? [Int] == [512, 512, 20])
        let a = got["affine"] as! [Double], b = want["affine"] as! [Double]
        // NIfTI stores the affine as float32: agreement within 1e-3 mm at positions of ~770 mm
        #expect(zip(a, b).allSatisfy { abs($0 - $1) < 1e-3 }, "nibabel \(a)\npydicom \(b)")
    }
}

/// Whether python3 can read the mask (nibabel) and the series (pydicom with a JPEG 2000 decoder).
enum DICOMInferOracle {
    static let available: Bool = {
        guard let r = try? run(["python3", "-c", "import nibabel, pydicom, openjpeg"]), r.status == 0 else {
            print("DICOMInferTests skipped: python3 with nibabel, pydicom and pylibjpeg-openjpeg is missing (scripts/install-deps.sh)")
            return false
        }
        return true
    }()
}
