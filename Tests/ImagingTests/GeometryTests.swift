import Foundation
import Testing
@testable import Imaging

@Suite struct GeometryTests {
    static let lps = Affine(rowMajor: [-2, 0, 0, 50, 0, -3, 0, 40, 0, 0, 4, -30, 0, 0, 0, 1])
    static let las = Affine(rowMajor: [-2, 0, 0, 50, 0, 3, 0, -40, 0, 0, 4, -30, 0, 0, 0, 1])
    /// Oblique: voxel axes rotated 20° about z and 10° about x, permuted (k runs mostly along -y).
    static let oblique: Affine = {
        let (a, b) = (20.0 * .pi / 180, 10.0 * .pi / 180)
        // columns: i -> ~ +z, j -> ~ -x, k -> ~ -y (a "SLP"-like acquisition)
        let ci = SIMD3(0, sin(b), cos(b)) * 2.5
        let cj = SIMD3(-cos(a), -sin(a), 0) * 1.5
        let ck = SIMD3(sin(a), -cos(a) * cos(b), sin(b)) * 3.0
        return Affine(rowMajor: [ci.x, cj.x, ck.x, 12, ci.y, cj.y, ck.y, -7, ci.z, cj.z, ck.z, 33, 0, 0, 0, 1])
    }()

    @Test func axisCodesOfKnownAffines() {
        #expect(Affine.identity.axisCodes == "RAS")
        #expect(Self.lps.axisCodes == "LPS")
        #expect(Self.las.axisCodes == "LAS")
        #expect(Self.oblique.axisCodes == "SLP")
    }

    @Test(arguments: [("LPS", GeometryTests.lps), ("LAS", GeometryTests.las), ("SLP", GeometryTests.oblique)])
    func reorientToRASAndBack(_ name: String, _ affine: Affine) {
        let v = TestSupport.ramp(dims: [5, 4, 3], affine: affine)
        #expect(v.orientation == name)
        let ras = v.reoriented(to: "RAS")
        #expect(ras.orientation == "RAS")
        #expect(ras.dims.reduce(1, *) == 60)
        // every voxel value sits at the same world position before and after
        for k in 0..<3 { for j in 0..<4 { for i in 0..<5 {
            let value = v[i, j, k]
            let world = v.affine.apply(SIMD3(Double(i), Double(j), Double(k)))
            let idx = ras.affine.inverse!.apply(world)
            let (x, y, z) = (Int(idx.x.rounded()), Int(idx.y.rounded()), Int(idx.z.rounded()))
            #expect(abs(idx.x - Double(x)) < 1e-9 && abs(idx.y - Double(y)) < 1e-9 && abs(idx.z - Double(z)) < 1e-9)
            #expect(ras[x, y, z] == value)
        } } }
        let back = ras.reoriented(to: name)
        #expect(back.dims == v.dims && back.voxels == v.voxels)
        #expect(back.affine.isClose(to: affine, tolerance: 1e-9))
    }

    @Test func reorientationPermutesDimsOfOblique() {
        let v = TestSupport.ramp(dims: [5, 4, 3], affine: Self.oblique)
        // SLP -> RAS: new i (R) reads old j (L) flipped, new j (A) old k (P) flipped, new k (S) old i
        #expect(v.reoriented(to: "RAS").dims == [4, 3, 5])
    }

    @Test func resamplingKeepsLinearRampsAndLabels() {
        // a ramp linear in world x is reproduced exactly by trilinear resampling inside the volume
        let g = VoxelGrid(dims: [20, 10, 8], affine: .diagonal((3, 3, 3)))
        var v = Volume(grid: g, repeating: 0)
        for k in 0..<8 { for j in 0..<10 { for i in 0..<20 { v[i, j, k] = Float(3 * i) + 0.5 * Float(3 * j) } } }
        let fine = v.resampled(toSpacing: SIMD3(1.5, 1.5, 2.0), interpolation: .linear)
        #expect(fine.dims == [39, 19, 12])  // MONAI 1.6.1 Spacing(pixdim=(1.5, 1.5, 2)) on this grid
        #expect(fine.grid.spacing == SIMD3(1.5, 1.5, 2.0))
        for k in 0..<12 { for j in 0..<19 { for i in 0..<39 {
            let w = fine.affine.apply(SIMD3(Double(i), Double(j), Double(k)))
            #expect(abs(Double(fine[i, j, k]) - (w.x + 0.5 * w.y)) < 1e-3)
        } } }
        // nearest keeps only existing label values
        let labels = Volume(grid: g, voxels: (0..<g.count).map { Float($0 % 3) })
        let nn = labels.resampled(toSpacing: SIMD3(2, 2, 2), interpolation: .nearest)
        #expect(Set(nn.voxels).isSubset(of: [0, 1, 2]))
        // resampling onto its own grid is the identity
        #expect(v.resampled(to: v.grid, interpolation: .linear) == v)
    }

    @Test func windowAndCrop() {
        #expect(HUWindow.abdomen.apply(-1000) == 0 && HUWindow.abdomen.apply(250) == 1 && HUWindow.abdomen.apply(37.5) == 0.5)
        #expect(HUWindow(parsing: "-175..250") == .abdomen)
        #expect(HUWindow(parsing: "250..-175") == nil)
        var v = Volume(grid: VoxelGrid(dims: [6, 5, 4], affine: .diagonal((2, 2, 2), origin: (1, 2, 3))), repeating: 0)
        v[2, 1, 1] = 1; v[4, 3, 2] = 1
        let box = v.boundingBox { $0 > 0 }!
        #expect(box == VoxelBox(lower: [2, 1, 1], upper: [5, 4, 3]))
        let c = v.cropped(to: box)
        #expect(c.dims == [3, 3, 2] && c[0, 0, 0] == 1 && c[2, 2, 1] == 1)
        #expect(c.affine.apply(.zero) == v.affine.apply(SIMD3(2, 1, 1)))
    }
}

@Suite struct PostprocessTests {
    @Test func keepsLargestComponentPerLabel() {
        var v = Volume(grid: VoxelGrid(dims: [10, 6, 5], affine: .identity), repeating: 0)
        for i in 0..<4 { v[i, 1, 1] = 1 }      // 4 voxels of label 1
        v[6, 4, 3] = 1                         // a stray voxel of label 1
        v[5, 2, 2] = 1                         // two steps from (3, 1, 1): its own component
        v[8, 0, 0] = 2; v[9, 5, 4] = 2         // two single voxels of label 2: one is kept
        let out = v.keepingLargestComponent(of: [1])
        #expect(out.voxels.filter { $0 == 1 }.count == 4)
        #expect(out[6, 4, 3] == 0 && out[5, 2, 2] == 0)
        #expect(out.voxels.filter { $0 == 2 }.count == 2)   // label 2 untouched
        // (4, 2, 2) touches (3, 1, 1) and (5, 2, 2) diagonally: 26-connectivity joins all six
        v[4, 2, 2] = 1
        #expect(v.keepingLargestComponent(of: [1]).voxels.filter { $0 == 1 }.count == 6)
        #expect(v.keepingLargestComponent(of: [2]).voxels.filter { $0 == 2 }.count == 1)
    }
}
