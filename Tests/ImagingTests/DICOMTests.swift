import Foundation
import Testing
@testable import Imaging

/// DICOM series through GDCM, checked against pydicom reading the same files (scripts/dicom-oracle.py: its own
/// sorting, affine and modality LUT in numpy): the real 20-slice series in ../shared/data/ct-dicom-series (JPEG 2000
/// lossless) and series the script writes (shuffled files, oblique and sagittal orientations, anisotropic pixels,
/// RLE lossless, signed and unsigned storage, slopes and intercepts).
@Suite(.enabled(if: DICOMOracle.available, "python3 with pydicom, numpy and pylibjpeg-openjpeg is missing (scripts/install-deps.sh installs them): DICOM tests skipped"))
struct DICOMTests {
    static let script = TestSupport.repoRoot.appendingPathComponent("scripts/dicom-oracle.py").path

    static func runScript(_ args: [String]) throws {
        _ = try TestSupport.python("import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')",
                                   [script] + args)
    }

    /// A series of `kind` (see the script) in a fresh folder.
    static func written(_ kind: String) throws -> URL {
        let dir = TestSupport.tempDir(kind).appendingPathComponent("series")
        try runScript(["write", dir.path, kind])
        return dir
    }

    /// pydicom's reading of `folder`: dims, RAS affine and HU.
    static func oracle(_ folder: URL) throws -> (dims: [Int], affine: [Double], hu: [Float]) {
        let out = TestSupport.tempDir("oracle").appendingPathComponent("o")
        try runScript(["read", folder.path, out.path])
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out.path + ".json"))) as! [String: Any]
        let raw = try Data(contentsOf: URL(fileURLWithPath: out.path + ".f32"))
        let hu = raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        return (meta["dims"] as! [Int], meta["affine"] as! [Double], hu)
    }

    static func expectSameAsPydicom(_ folder: URL) throws {
        let ours = try DICOMSeries.read(folder: folder)
        let want = try oracle(folder)
        #expect(ours.dims == want.dims)
        // positions are written with 6 decimals, directions with 8: agreement within 1e-5 mm
        #expect(ours.affine.isClose(to: Affine(rowMajor: want.affine), tolerance: 1e-5), "\(ours.affine)\nvs \(want.affine)")
        guard ours.voxels.count == want.hu.count else { Issue.record("voxel count \(ours.voxels.count) vs \(want.hu.count)"); return }
        #expect(ours.voxels == want.hu, "HU differ at \(zip(ours.voxels, want.hu).filter { $0 != $1 }.count) voxels")
    }

    @Test func realSeriesMatchesPydicom() throws {
        let folder = TestSupport.sharedData.appendingPathComponent("ct-dicom-series")
        try Self.expectSameAsPydicom(folder)
        let v = try DICOMSeries.read(folder: folder)
        #expect(v.dims == [512, 512, 20] && v.orientation == "LPS")
        #expect(v.range.min >= -1024 && v.range.max > 500)  // air to bone, in HU
    }

    @Test(arguments: ["axial", "oblique-rle", "sagittal"])
    func writtenSeriesMatchPydicom(_ kind: String) throws {
        try Self.expectSameAsPydicom(try Self.written(kind))
    }

    @Test func brokenSeriesAreRefusedNamingTheFolderAndProblem() throws {
        func error(_ kind: String) throws -> (URL, DICOMError?) {
            let dir = try Self.written(kind)
            return (dir, #expect(throws: DICOMError.self) { try DICOMSeries.read(folder: dir) })
        }
        let (mixed, e1) = try error("axial:mixed")
        guard case let .mixedSeries(f, uids)? = e1 else { Issue.record("mixed: \(String(describing: e1))"); return }
        #expect(f == mixed.path && uids.count == 2)
        let (missing, e2) = try error("axial:missing")
        guard case let .missingSlice(f2, after, count, gap, spacing)? = e2 else { Issue.record("missing: \(String(describing: e2))"); return }
        #expect(f2 == missing.path && after == 5 && count == 1 && abs(gap - 5) < 1e-3 && abs(spacing - 2.5) < 1e-3)
        let (uneven, e3) = try error("axial:spacing")
        guard case let .inconsistentSpacing(f3, after3, _, _)? = e3 else { Issue.record("spacing: \(String(describing: e3))"); return }
        #expect(f3 == uneven.path && after3 == 5)
        let (noImage, e4) = try error("axial:noimage")
        #expect(e4 == .noImageData(folder: noImage.path))
        #expect(e4?.description.contains(noImage.path) == true)
        let empty = TestSupport.tempDir("empty")
        try "x".write(to: empty.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        #expect(throws: DICOMError.noDICOMFiles(folder: empty.path)) { try DICOMSeries.read(folder: empty) }
    }

    @Test func seriesFolderIsAnImageEntryOfADataSet() throws {
        let root = TestSupport.tempDir("dataset")
        let series = try Self.written("sagittal")
        let images = root.appendingPathComponent("images"), labels = root.appendingPathComponent("labels")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: labels, withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: series, to: images.appendingPathComponent("case1"))
        let image = try DICOMSeries.read(folder: images.appendingPathComponent("case1"))
        var label = Volume(grid: image.grid, repeating: 0)
        label[3, 4, 5] = 1
        try NIfTI.write(label, to: labels.appendingPathComponent("case1.nii.gz"), datatype: .uint8)
        let ds = try Dataset.open(root)
        #expect(ds.training.map(\.id) == ["case1"])
        let lv = try ds.load(ds.training[0], mapping: try LabelMapping(parsing: "1:liver"))
        #expect(lv.image == image && lv.label[3, 4, 5] == 1)
    }
}

/// Whether pydicom (with a JPEG 2000 decoder for the real series) can serve as the oracle.
enum DICOMOracle {
    static let available: Bool = {
        let ok = (try? TestSupport.python("import pydicom, numpy, openjpeg; print('ok')")) == "ok\n"
        if !ok { print("DICOMTests skipped: python3 with pydicom, numpy and pylibjpeg-openjpeg is missing (scripts/install-deps.sh)") }
        return ok
    }()
}
