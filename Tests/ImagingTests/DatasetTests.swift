import Foundation
import Testing
@testable import Imaging

@Suite struct DatasetTests {
    static let small = PhantomGenerator(dims: [40, 40, 28], spacing: SIMD3(7, 7, 7))

    static func write(_ layout: PhantomLayout, _ annotate: PhantomAnnotation, cases: Int = 2, tests: Int = 0, seed: UInt64 = 3) throws -> URL {
        let dir = TestSupport.tempDir("\(layout)\(annotate)")
        _ = try PhantomDatasetWriter(generator: small, layout: layout, annotate: annotate, seed: seed).write(to: dir, cases: cases, testCases: tests)
        return dir
    }

    @Test func msdLiverSetOpensAndValidates() throws {
        let dir = try Self.write(.msd, .liver, tests: 1)
        defer { try? FileManager.default.removeItem(at: dir) }
        // macOS resource-fork copies like the real MSD archives carry must be skipped
        try Data([0, 1, 2]).write(to: dir.appendingPathComponent("imagesTr/._liver_0.nii.gz"))
        let ds = try Dataset.open(dir)
        #expect(ds.layout == .msd && ds.name == "SegVizPhantom-liver")
        #expect(ds.training.map(\.id) == ["liver_0", "liver_1"])
        #expect(ds.test.map(\.id) == ["liver_2"] && ds.test[0].label == nil)
        let report = ds.validate(mapping: try LabelMapping(parsing: "msd-liver"))
        #expect(report.isClean && report.usable.count == 2)
        let lv = try ds.load(ds.training[0], mapping: try LabelMapping(parsing: "msd-liver"))
        #expect(Set(lv.label.voxels) == [0, 1])
        #expect(lv.image.orientation == "LPS")
        // the spleen mapping does not know the liver set's numbers 2 (tumour) -> reported by file
        let wrong = ds.validate(mapping: try LabelMapping(parsing: "1:spleen"))
        let problems = wrong.problems.compactMap { p -> [Int]? in if case .unknownLabels(_, let v, _) = p { v } else { nil } }
        #expect(wrong.problems.allSatisfy { $0.file.contains("labelsTr/liver_") })
        #expect(problems.allSatisfy { $0 == [2] } && problems.count == wrong.problems.count)
    }

    @Test func btcvSetUsesBTCVNumbers() throws {
        let dir = try Self.write(.btcv, .all)
        defer { try? FileManager.default.removeItem(at: dir) }
        let ds = try Dataset.open(dir)
        #expect(ds.layout == .btcv && ds.training.map(\.id) == ["img0001", "img0002"])
        let raw = try NIfTI.read(ds.training[0].label!)
        #expect(Set(raw.voxels).isSubset(of: [0, 1, 2, 3, 6, 7, 8, 9]) && Set(raw.voxels).isSuperset(of: [1, 6]))
        let mapped = try ds.load(ds.training[0], mapping: try LabelMapping(parsing: "btcv"))
        #expect(Set(mapped.label.voxels) == [0, 1, 2])
        // liver voxels are exactly the BTCV 6s, spleen the 1s
        #expect(zip(raw.voxels, mapped.label.voxels).allSatisfy { ($0 == 6) == ($1 == 1) && ($0 == 1) == ($1 == 2) })
        #expect(!ds.validate(mapping: try LabelMapping(parsing: "1:spleen,6:liver")).isClean)
    }

    @Test func badCasesAreEachReportedByFile() throws {
        let dir = try Self.write(.btcv, .liver, cases: 4)
        defer { try? FileManager.default.removeItem(at: dir) }
        let lab = dir.appendingPathComponent("label")
        // 1: shape mismatch, 2: affine mismatch, 3: truncated; 4 stays good
        let l1 = try NIfTI.read(lab.appendingPathComponent("label0001.nii.gz"))
        try NIfTI.write(l1.cropped(to: VoxelBox(lower: [0, 0, 0], upper: [40, 40, 20])), to: lab.appendingPathComponent("label0001.nii.gz"), datatype: .uint8)
        var l2 = try NIfTI.read(lab.appendingPathComponent("label0002.nii.gz"))
        l2.grid.affine[0, 3] += 5
        try NIfTI.write(l2, to: lab.appendingPathComponent("label0002.nii.gz"), datatype: .uint8)
        let f3 = lab.appendingPathComponent("label0003.nii.gz")
        let bytes = try Data(contentsOf: f3)
        try bytes.prefix(bytes.count / 3).write(to: f3)
        let ds = try Dataset.open(dir)
        let report = ds.validate(mapping: try LabelMapping(parsing: "6:liver,*:background"))
        #expect(report.usable.map(\.id) == ["img0004"])
        #expect(report.problems.count == 3)
        guard report.problems.count == 3 else { return }
        guard case .shapeMismatch(let f1, [40, 40, 28], [40, 40, 20]) = report.problems[0] else { Issue.record("\(report.problems[0])"); return }
        #expect(f1.hasSuffix("label0001.nii.gz"))
        guard case .affineMismatch(let f2) = report.problems[1] else { Issue.record("\(report.problems[1])"); return }
        #expect(f2.hasSuffix("label0002.nii.gz"))
        guard case .unreadable(.truncated(let f, _, _, _)) = report.problems[2] else { Issue.record("\(report.problems[2])"); return }
        #expect(f.hasSuffix("label0003.nii.gz"))
        #expect(DatasetRefused(problems: report.problems).description.contains("label0002.nii.gz"))
    }

    @Test func manifestErrorsNameTheFile() throws {
        let dir = TestSupport.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: DatasetError.unknownLayout(folder: dir.path)) { try Dataset.open(dir) }
        let manifest = dir.appendingPathComponent("dataset.json")
        try Data("{\"training\": [{\"image\": \"./imagesTr/a.nii.gz\", \"label\": \"./labelsTr/a.nii.gz\"}]}".utf8).write(to: manifest)
        #expect(throws: DatasetError.missingFile(file: dir.appendingPathComponent("imagesTr/a.nii.gz").path, referencedBy: manifest.path)) {
            try Dataset.open(dir)
        }
        try Data("{\"training\": 3".utf8).write(to: manifest)
        do { _ = try Dataset.open(dir); Issue.record("opened") } catch {
            guard case .badManifest(let f, _) = error else { Issue.record("\(error)"); return }
            #expect(f == manifest.path)
        }
    }
}
