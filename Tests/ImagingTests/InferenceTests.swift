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
        // HD95 against a brute-force reference on random blobs
        var rng = SeededRandom(seed: 8)
        let small = VoxelGrid(dims: [12, 10, 9], affine: .diagonal((1.5, 0.8, 2.5)))
        for _ in 0..<3 {
            let p = (0..<small.count).map { _ in Bool.random(using: &rng) && Bool.random(using: &rng) }
            let q = (0..<small.count).map { _ in Bool.random(using: &rng) }
            let ea = SurfaceDistance.edges(p, dims: small.dims), eb = SurfaceDistance.edges(q, dims: small.dims)
            let pos = { (n: Int) in SIMD3(Double(n % 12) * 1.5, Double((n / 12) % 10) * 0.8, Double(n / 120) * 2.5) }
            func directed(_ x: [Bool], _ y: [Bool]) -> [Double] {
                x.indices.filter { x[$0] }.map { i in y.indices.filter { y[$0] }.map { j in
                    let d = pos(i) - pos(j); return (d * d).sum().squareRoot() }.min()! }
            }
            let ref = max(SurfaceDistance.percentile(directed(ea, eb), 95), SurfaceDistance.percentile(directed(eb, ea), 95))
            let got = SurfaceDistance.hausdorff95(p, q, dims: small.dims, spacing: small.spacing)!
            #expect(abs(got - ref) < 1e-9)
        }
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
