import Foundation
import Imaging
import NN
import Testing
@testable import Federation

/// Global-model inference keeps each organ's largest connected component by default (MONAI's
/// `KeepLargestConnectedComponent(independent=True, connectivity=3)`), checked against a union-find written here.
@Suite(.timeLimit(.minutes(5))) struct KeepLargestDefaultTests {
    /// Sizes of the 26-connected components of `label` in `v`, by union-find over voxel coordinates
    /// (an oracle independent of the flood fill in Imaging's Postprocess).
    static func componentSizes(_ v: Volume, label: Float) -> [Int] {
        let d = v.dims
        var parent = Array(0..<v.voxels.count)
        func find(_ x: Int) -> Int {
            var r = x
            while parent[r] != r { r = parent[r] }
            var y = x
            while parent[y] != r { let next = parent[y]; parent[y] = r; y = next }
            return r
        }
        func index(_ i: Int, _ j: Int, _ k: Int) -> Int { i + d[0] * (j + d[1] * k) }
        for k in 0..<d[2] { for j in 0..<d[1] { for i in 0..<d[0] where v.voxels[index(i, j, k)] == label {
            for dk in -1...1 { for dj in -1...1 { for di in -1...1 {
                let (a, b, c) = (i + di, j + dj, k + dk)
                guard a >= 0, b >= 0, c >= 0, a < d[0], b < d[1], c < d[2], v.voxels[index(a, b, c)] == label else { continue }
                let (ra, rb) = (find(index(i, j, k)), find(index(a, b, c)))
                if ra != rb { parent[ra] = rb }
            } } }
        } } }
        var sizes: [Int: Int] = [:]
        for n in v.voxels.indices where v.voxels[n] == label { sizes[find(n), default: 0] += 1 }
        return sizes.values.sorted(by: >)
    }

    /// A random-weight model on a noise image gives speckled labels: several components per organ.
    static func setup() -> (GlobalModelInference, Volume) {
        let net = FederationFile.NetworkSpec(channels: [4, 8], strides: [2], numResUnits: 1, norm: "instance")
        let model = FederatedModel(strategy: .single, organs: ["liver", "spleen"], network: net, seed: 11)
        var rng = SeededRandom(seed: 5)
        let grid = VoxelGrid(dims: [24, 20, 16], affine: Affine(rowMajor: [2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1]))
        let image = Volume(grid: grid, voxels: (0..<grid.count).map { _ in rng.nextUnit() * 600 - 300 })
        let pre = Preprocessing(spacing: SIMD3(2, 2, 2), window: HUWindow(lower: -300, upper: 300), cropForeground: false)
        return (GlobalModelInference(model: model, preprocessing: pre, roi: [16, 16, 16]), image)
    }

    @Test func defaultKeepsOnlyTheLargestComponentOfEachOrgan() throws {
        let (inference, image) = Self.setup()
        #expect(inference.keepLargestComponent)
        var raw = inference
        raw.keepLargestComponent = false
        let before = try raw.segment(image), after = try inference.segment(image)
        for label: Float in [1, 2] {
            let sizesBefore = Self.componentSizes(before, label: label)
            try #require(sizesBefore.count > 1, "the seeded raw prediction should have islands of label \(label)")
            let sizesAfter = Self.componentSizes(after, label: label)
            #expect(sizesAfter == [sizesBefore[0]], "label \(label): \(sizesBefore.prefix(5)) -> \(sizesAfter)")
        }
        // Only removals, and only to background.
        for n in after.voxels.indices where after.voxels[n] != before.voxels[n] { #expect(after.voxels[n] == 0) }
        // The organ-restricted path does the same.
        let spleenOnly = try inference.segment(image, organs: [.spleen])
        #expect(Self.componentSizes(spleenOnly, label: 2).count <= 1)
    }

    @Test func bothLabelsInOneCallMatchTheOracle() {
        var rng = SeededRandom(seed: 9)
        let grid = VoxelGrid(dims: [12, 10, 8], affine: .identity)
        let v = Volume(grid: grid, voxels: (0..<grid.count).map { _ in
            let u = rng.nextUnit()
            return u < 0.12 ? 1 : (u < 0.24 ? 2 : 0)
        })
        let out = v.keepingLargestComponent(of: [1, 2])
        for label: Float in [1, 2] {
            let sizes = Self.componentSizes(v, label: label)
            #expect(sizes.count > 1)
            #expect(Self.componentSizes(out, label: label) == [sizes[0]], "label \(label)")
        }
    }
}
