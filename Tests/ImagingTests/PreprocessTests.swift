import Foundation
import Testing
import Tensor
@testable import Imaging

@Suite struct PreprocessTests {
    static func phantomPair() throws -> (Volume, Volume) {
        let gen = PhantomGenerator(dims: [48, 48, 32], spacing: SIMD3(6, 6, 6))
        let w = PhantomDatasetWriter(generator: gen, layout: .msd, annotate: .liver, seed: 2)
        let c = gen.generate(seed: 2, index: 0, orientation: "LPS")
        return (c.image, try LabelMapping(parsing: "msd-liver").apply(to: w.labels(of: c)))
    }

    @Test func pairIsRASResampledWindowedAndCropped() throws {
        let (image, label) = try Self.phantomPair()
        let (img, lab) = Preprocessing(spacing: SIMD3(4, 4, 5)).pair(image: image, label: label)
        #expect(img.orientation == "RAS" && img.grid == lab.grid && img.grid.spacing == SIMD3(4, 4, 5))
        #expect(img.range.min >= 0 && img.range.max <= 1)
        // cropped to the body and table: the air in front of the body goes (full grid 72 x 72 x 38)
        #expect(img.dims[1] < 68 && img.dims[0] <= 72 && img.dims[2] <= 38)
        #expect(Set(lab.voxels) == [0, 1])
        // liver volume is preserved up to resampling (within 10%)
        let before = Double(label.voxels.filter { $0 == 1 }.count) * 216, after = Double(lab.voxels.filter { $0 == 1 }.count) * 80
        #expect(abs(after / before - 1) < 0.1)
    }

    @Test func patchesAreSeededAndHalfPositive() throws {
        let (image, label) = try Self.phantomPair()
        let (img, lab) = Preprocessing(spacing: SIMD3(6, 6, 6)).pair(image: image, label: label)
        let sampler = PatchSampler(size: [16, 16, 16], flipProbability: 0)
        var r1 = SeededRandom(seed: 3), r2 = SeededRandom(seed: 3), r3 = SeededRandom(seed: 4)
        let a = sampler.sample(image: img, label: lab, count: 4, using: &r1)
        let b = sampler.sample(image: img, label: lab, count: 4, using: &r2)
        let c = sampler.sample(image: img, label: lab, count: 4, using: &r3)
        #expect(a.map(\.image) == b.map(\.image) && a.map(\.label) == b.map(\.label))
        #expect(a.map(\.image) != c.map(\.image))
        #expect(a.allSatisfy { $0.image.shape == [1, 1, 16, 16, 16] && $0.label.shape == [1, 1, 16, 16, 16] })
        // the first half is centred on liver: the centre voxel is labelled (no flips here)
        for p in a.prefix(2) { #expect(p.label[0, 0, 8, 8, 8] == 1) }
        // a patch larger than the volume is padded with zeros
        let big = PatchSampler(size: [96, 96, 96], flipProbability: 0, scaleFactor: 0, shiftOffset: 0).sample(image: img, label: lab, count: 1, using: &r1)[0]
        #expect(big.image.shape == [1, 1, 96, 96, 96] && big.image[0, 0, 0, 0, 0] == 0)
    }
}
