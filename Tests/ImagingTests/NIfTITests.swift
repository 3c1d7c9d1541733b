import Foundation
import Testing
@testable import Imaging

@Suite(.timeLimit(.minutes(5))) struct NIfTITests {
    @Test func libniftiSmokeWriteAndReadBack() throws {
        let dir = TestSupport.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let v = TestSupport.ramp(scale: 0.5, offset: -3)
        for name in ["small.nii", "small.nii.gz"] {
            let url = dir.appendingPathComponent(name)
            try NIfTI.write(v, to: url, datatype: .float32)
            let back = try NIfTI.load(url)
            #expect(back.header.datatype == .float32)
            #expect(back.volume.voxels == v.voxels)
            #expect(back.volume.affine.isClose(to: v.affine, tolerance: 1e-5))
            #expect(back.volume.grid.spacing == SIMD3(2, 3, 4))
        }
        // no temporary files remain beside the outputs
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(left == ["small.nii", "small.nii.gz"])
    }

    /// Values each datatype holds exactly, including negatives where signed.
    static func values(_ dt: NIfTIDatatype, count: Int) -> [Float] {
        (0..<count).map { i -> Float in
            switch dt {
            case .uint8: Float(i * 7 % 256)
            case .int8: Float(i * 7 % 256 - 128)
            case .int16: Float(i * 997 % 65536 - 32768)
            case .uint16: Float(i * 997 % 65536)
            case .int32: Float(i * 99_991 - 3_000_000)
            case .float32: Float(i) * 0.37 - 11.25
            case .float64: Float(i) * -1.5 + 0.125
            }
        }
    }

    @Test(arguments: NIfTIDatatype.allCases)
    func datatypeRoundTripThroughLibniftiAndNibabel(_ dt: NIfTIDatatype) throws {
        let dir = TestSupport.tempDir("dt\(dt)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let affine = Affine(rowMajor: [-1.5, 0, 0, 90, 0, -1.5, 0, 120, 0, 0, 2, -70, 0, 0, 0, 1])
        let grid = VoxelGrid(dims: [6, 5, 4], affine: affine)
        let v = Volume(grid: grid, voxels: Self.values(dt, count: grid.count))
        let url = dir.appendingPathComponent("v.nii.gz")
        try NIfTI.write(v, to: url, datatype: dt)
        let back = try NIfTI.load(url)
        #expect(back.header.datatype == dt)
        #expect(back.volume.voxels == v.voxels)
        #expect(back.volume.affine.isClose(to: affine, tolerance: 1e-5))
        // nibabel sees the same shape, affine, dtype and values
        let script = """
        import sys, json, nibabel as nib, numpy as np
        img = nib.load(sys.argv[1])
        d = np.asarray(img.dataobj)
        print(json.dumps({"shape": list(img.shape), "dtype": str(d.dtype), "affine": img.affine.ravel().tolist(),
                          "values": d.ravel(order="F").astype(float).tolist()}))
        """
        let out = try TestSupport.python(script, [url.path])
        let json = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
        #expect(json["shape"] as! [Int] == [6, 5, 4])
        let names: [NIfTIDatatype: String] = [.uint8: "uint8", .int8: "int8", .int16: "int16", .uint16: "uint16",
                                              .int32: "int32", .float32: "float32", .float64: "float64"]
        #expect(json["dtype"] as! String == names[dt]!)
        let aff = (json["affine"] as! [Double])
        #expect(zip(aff, affine.m).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect((json["values"] as! [Double]).map { Float($0) } == v.voxels)
        // and a file nibabel writes, with scl_slope/scl_inter, reads back with scaling applied
        let nibURL = dir.appendingPathComponent("nib.nii")
        let write = """
        import sys, nibabel as nib, numpy as np
        d = np.arange(60, dtype=np.int16).reshape((5, 4, 3), order="F")
        img = nib.Nifti1Image(d, np.diag([0.8, 0.9, 2.5, 1.0]))
        img.header.set_slope_inter(2.0, -5.0)
        nib.save(img, sys.argv[1])
        """
        _ = try TestSupport.python(write, [nibURL.path])
        let nib = try NIfTI.read(nibURL)
        #expect(nib.dims == [5, 4, 3])
        #expect(nib.voxels == (0..<60).map { Float($0) * 2 - 5 })
        #expect(nib.grid.spacing.x.isApproximately(0.8) && nib.grid.spacing.z.isApproximately(2.5))
    }

    @Test func realCTHeaderAndValues() throws {
        let img = try NIfTI.load(TestSupport.realCT)
        #expect(img.header.dims == [122, 101, 112])
        #expect(img.header.datatype == .int32)
        #expect(img.volume.orientation == "RAS")
        let r = img.volume.range
        #expect(r.min == -1207 && r.max == 3382)
        #expect(abs(img.volume.grid.spacing.x - 3) < 1e-3 && abs(img.volume.grid.spacing.z - 3) < 1e-3)
    }

    @Test func gzNeverFallsBackToSiblingNii() throws {
        let dir = TestSupport.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try NIfTI.write(TestSupport.ramp(offset: 1000), to: dir.appendingPathComponent("x.nii"), datatype: .float32)
        try NIfTI.write(TestSupport.ramp(), to: dir.appendingPathComponent("x.nii.gz"), datatype: .float32)
        #expect(try NIfTI.read(dir.appendingPathComponent("x.nii.gz")).voxels == TestSupport.ramp().voxels)
        #expect(try NIfTI.read(dir.appendingPathComponent("x.nii")).voxels == TestSupport.ramp(offset: 1000).voxels)
    }
}

extension Double {
    func isApproximately(_ other: Double, tolerance: Double = 1e-4) -> Bool { abs(self - other) <= tolerance }
}
