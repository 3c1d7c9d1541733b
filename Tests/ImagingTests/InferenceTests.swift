import Foundation
import Testing
import Tensor
@testable import Imaging

@Suite struct InferenceTests {
    /// A pointwise "network": two logits per voxel, class 1 where the input exceeds 0.5.
    static func pointwise(_ x: Tensor) -> Tensor {
        let b = x.shape[0], n = x.count / b
        var out = [Float](repeating: 0, count: 2 * x.count)
        for i in 0..<b { for v in 0..<n {
            out[(2 * i) * n + v] = 0
            out[(2 * i + 1) * n + v] = 8 * (x.scalars[i * n + v] - 0.5)
        } }
        return Tensor(shape: [b, 2] + Array(x.shape[2...]), scalars: out)
    }

    @Test func windowPositionsFollowMONAI() {
        let sw = SlidingWindow(roi: [96, 96, 96], overlap: 0.25)
        #expect(sw.starts(size: 244, roi: 96) == [0, 72, 144, 148])
        #expect(sw.starts(size: 168, roi: 96) == [0, 72])
        #expect(sw.starts(size: 96, roi: 96) == [0])
        #expect(sw.starts(size: 60, roi: 96) == [0])
        let map = SlidingWindow(roi: [5, 4, 3]).importanceMap()
        #expect(map.count == 60 && map.max()! < 1 && map.min()! >= 1e-3)
        // symmetric about the centre
        #expect(map[0] == map[59])
    }

    @Test(arguments: [[30, 26, 22], [7, 9, 5]])
    func blendedPointwisePredictorIsExact(_ dims: [Int]) throws {
        var rng = SeededRandom(seed: 4)
        let x = Tensor(shape: [1, 1] + dims, scalars: (0..<dims.reduce(1, *)).map { _ in Float.random(in: 0...1, using: &rng) })
        var calls = 0
        let sw = SlidingWindow(roi: [12, 10, 8], overlap: 0.5, batchSize: 3)
        let y = try sw(x) { calls += 1; return Self.pointwise($0) }
        let direct = Self.pointwise(x)
        #expect(y.shape == [1, 2] + dims)
        #expect(zip(y.scalars, direct.scalars).allSatisfy { abs($0 - $1) < 1e-4 })
        #expect(calls >= 1)
        #expect(throws: SlidingWindowError.self) { _ = try sw(x) { _ in Tensor(zeros: [1, 2, 3, 3, 3]) } }
    }

    @Test func realCTSegmentsOnItsOwnGrid() throws {
        let ct = try NIfTI.read(TestSupport.realCT)
        let pre = Preprocessing()
        let net = pre.image(ct)
        #expect(net.orientation == "RAS" && net.dims == [243, 201, 168] && net.grid.spacing == SIMD3(1.5, 1.5, 2.0))
        #expect(net.range.min == 0 && net.range.max == 1)
        let seg = Segmenter(preprocessing: Preprocessing(spacing: SIMD3(3, 3, 3)), window: SlidingWindow(roi: [64, 64, 64]))
        // in LPS storage too: the output must match each input's grid exactly
        for image in [ct, ct.reoriented(to: "LPS")] {
            let labels = try seg.segment(image, predictor: Self.pointwise)
            #expect(labels.grid == image.grid)
            // class 1 where the windowed HU exceeds 0.5 (37.5 HU), away from partial-volume borders
            let agree = zip(labels.voxels, image.voxels).filter { ($0 == 1) == (HUWindow.abdomen.apply($1) > 0.5) }.count
            #expect(Double(agree) / Double(image.voxels.count) > 0.97)
        }
    }

    @Test func diceAndHausdorff() {
        let g = VoxelGrid(dims: [30, 30, 30], affine: .diagonal((1.5, 1.5, 2)))
        var a = Volume(grid: g, repeating: 0), b = a
        for k in 5..<15 { for j in 5..<15 { for i in 5..<15 { a[i, j, k] = 1; b[i + 2, j, k] = 1 } } }
        #expect(Metrics.dice(a, b, label: 1) == 0.8)
        #expect(Metrics.dice(a, a, label: 1) == 1 && Metrics.dice(a, a, label: 2) == 1)
        #expect(Metrics.score(a, a, label: 1).hd95 == 0)
        #expect(Metrics.score(a, Volume(grid: g, repeating: 0), label: 1).hd95 == nil)
        // HD95 against a brute-force reference on random blobs, written without SurfaceDistance: edges by their
        // coordinates, every pair of edge voxels measured, numpy's linear-interpolation percentile by hand.
        var rng = SeededRandom(seed: 8)
        let small = VoxelGrid(dims: [12, 10, 9], affine: .diagonal((1.5, 0.8, 2.5)))
        // Sparse and dense masks: in dense ones many voxels border the background only along one axis.
        for density in [0.25, 0.5, 0.7, 0.9] {
            let p = (0..<small.count).map { _ in Double.random(in: 0..<1, using: &rng) < density }
            let q = (0..<small.count).map { _ in Double.random(in: 0..<1, using: &rng) < density }
            let ref = Self.bruteForceHD95(p, q, dims: (12, 10, 9), spacing: (1.5, 0.8, 2.5))
            let got = SurfaceDistance.hausdorff95(p, q, dims: small.dims, spacing: small.spacing)!
            #expect(abs(got - ref) < 1e-9, "HD95 \(got), brute force \(ref)")
        }
        // A hand case: one voxel against a 2-voxel bar along i (spacing 2 mm): directed distances {0} and
        // {0, 2}; the 95th percentile of [0, 2] is 0 + 0.95 * 2 = 1.9 mm.
        var one = [Bool](repeating: false, count: 5 * 3 * 3), bar = one
        one[1 + 5 * (1 + 3 * 1)] = true
        bar[1 + 5 * (1 + 3 * 1)] = true; bar[2 + 5 * (1 + 3 * 1)] = true
        #expect(abs(SurfaceDistance.hausdorff95(one, bar, dims: [5, 3, 3], spacing: SIMD3(2, 1, 1))! - 1.9) < 1e-12)
    }

    /// HD95 the slow way: a mask voxel is an edge when one of its six neighbours is outside the volume or
    /// outside the mask; each edge voxel's distance to the other mask's nearest edge voxel in mm; the larger
    /// of the two directed 95th percentiles (linear interpolation between the closest ranks, as numpy).
    static func bruteForceHD95(_ a: [Bool], _ b: [Bool], dims: (Int, Int, Int), spacing: (Double, Double, Double)) -> Double {
        let (ni, nj, nk) = dims
        func inside(_ m: [Bool], _ i: Int, _ j: Int, _ k: Int) -> Bool {
            i >= 0 && i < ni && j >= 0 && j < nj && k >= 0 && k < nk && m[i + ni * (j + nj * k)]
        }
        func edgePoints(_ m: [Bool]) -> [(Double, Double, Double)] {
            var out: [(Double, Double, Double)] = []
            for k in 0..<nk { for j in 0..<nj { for i in 0..<ni where inside(m, i, j, k) {
                let neighbours = [(i - 1, j, k), (i + 1, j, k), (i, j - 1, k), (i, j + 1, k), (i, j, k - 1), (i, j, k + 1)]
                if neighbours.contains(where: { !inside(m, $0.0, $0.1, $0.2) }) {
                    out.append((Double(i) * spacing.0, Double(j) * spacing.1, Double(k) * spacing.2))
                }
            } } }
            return out
        }
        func p95(_ v: [Double]) -> Double {
            let s = v.sorted(), rank = 0.95 * Double(s.count - 1)
            let below = rank.rounded(.down), i = Int(below)
            return i + 1 < s.count ? s[i] * (1 - (rank - below)) + s[i + 1] * (rank - below) : s[i]
        }
        func directed(_ x: [(Double, Double, Double)], _ y: [(Double, Double, Double)]) -> Double {
            p95(x.map { a in y.map { b in
                ((a.0 - b.0) * (a.0 - b.0) + (a.1 - b.1) * (a.1 - b.1) + (a.2 - b.2) * (a.2 - b.2)).squareRoot()
            }.min() ?? .infinity })
        }
        let ea = edgePoints(a), eb = edgePoints(b)
        return max(directed(ea, eb), directed(eb, ea))
    }

    @Test func atlasFromPhantomsScoresBelowPerfect() throws {
        let gen = PhantomGenerator(dims: [48, 48, 32], spacing: SIMD3(6, 6, 6))
        let w = PhantomDatasetWriter(generator: gen, layout: .msd, annotate: .all, seed: 21)
        let mapping = try LabelMapping(parsing: w.labelMapping)
        let cases = try (0..<6).map { n -> LabelledVolume in
            let c = gen.generate(seed: 21, index: n, orientation: "LPS")
            return LabelledVolume(source: Case(id: "\(n)", image: URL(fileURLWithPath: "/dev/null"), label: nil),
                                  image: c.image, label: try mapping.apply(to: w.labels(of: c)))
        }
        let atlas = Atlas.build(from: Array(cases.prefix(5)), organs: [.liver, .spleen])
        #expect(atlas.frequency[.liver]!.range.max <= 1 && atlas.frequency[.liver]!.range.max > 0.9)
        let held = cases[5]
        let pred = atlas.predict(on: held.label.reoriented(to: "RAS").grid)
        let truth = held.label.reoriented(to: "RAS")
        let liver = Metrics.dice(pred, truth, label: 1)
        #expect(liver > 0.5 && liver < 0.97, "atlas liver Dice \(liver)")
        let dir = TestSupport.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("m.safetensors")
        try atlas.save(besideModel: model)
        let back = try Atlas.load(besideModel: model)!
        #expect(back.predict(on: truth.grid) == pred)
    }
}
