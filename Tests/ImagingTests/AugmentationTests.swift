import Foundation
import Testing
@testable import Imaging

@Suite struct AugmentationTests {
    /// Three nested shapes labelled 0, 1, 2, and an image equal to the label numbers.
    static func shapes() -> (image: Volume, label: Volume) {
        let grid = VoxelGrid(dims: [48, 44, 40], affine: .diagonal((2, 2, 2.5)))
        var lab = Volume(grid: grid, repeating: 0)
        for k in 0..<40 { for j in 0..<44 { for i in 0..<48 {
            let a = SIMD3(Double(i) - 20, Double(j) - 22, Double(k) - 18) / SIMD3(14, 10, 12)
            let b = SIMD3(Double(i) - 30, Double(j) - 20, Double(k) - 22) / SIMD3(6, 9, 5)
            lab[i, j, k] = (b * b).sum() < 1 ? 2 : (a * a).sum() < 1 ? 1 : 0
        } } }
        return (lab, lab)
    }

    /// Image and label are warped alike: where the image (trilinear) rounds to a label, the label (nearest) agrees,
    /// for all but the voxels on a boundary; a label left unwarped disagrees far more (the check can fail).
    @Test func warpKeepsImageAndLabelTogether() {
        let (img, lab) = Self.shapes()
        let aug = Augmentation(spatialProbability: 1, rotateAxialDegrees: 30, rotateTiltDegrees: 15, scale: 0.8...1.25, elasticVoxels: 3)
        for seed in 0..<6 {
            var rng = SeededRandom(seed: UInt64(seed))
            let centre = SIMD3(23.5, 21.5, 19.5)
            let (wi, wl) = aug.warpedPatch(image: img, label: lab, centre: centre, size: [32, 32, 24], using: &rng)
            let agree = zip(wi.voxels, wl.voxels).filter { $0.0.rounded() == $0.1 }.count
            let fraction = Double(agree) / Double(wl.voxels.count)
            #expect(fraction > 0.97, "seed \(seed): \(fraction)")
            #expect(zip(wi.voxels, wl.voxels).allSatisfy { abs($0.0 - $0.1) <= 2 })
            #expect(Set(wl.voxels).isSubset(of: [0, 1, 2]))
            // negative control: the plain crop's label against the warped image
            let plain = lab.cropped(to: VoxelBox(lower: [8, 6, 8], upper: [40, 38, 32]))
            let stale = Double(zip(wi.voxels, plain.voxels).filter { $0.0.rounded() == $0.1 }.count) / Double(wl.voxels.count)
            #expect(stale < fraction - 0.05, "seed \(seed): stale \(stale) vs \(fraction)")
        }
    }

    /// With no rotation, scaling or elastic field, the warp is the plain crop, voxel for voxel.
    @Test func identityWarpIsTheCrop() {
        let (img, lab) = Self.shapes()
        let none = Augmentation(spatialProbability: 1, rotateAxialDegrees: 0, rotateTiltDegrees: 0, scale: 1...1, elasticVoxels: 0)
        var rng = SeededRandom(seed: 1)
        let box = VoxelBox(lower: [8, 6, 8], upper: [40, 38, 32])
        let centre = SIMD3((0..<3).map { Double(box.lower[$0]) + Double(box.size[$0] - 1) / 2 })
        let (wi, wl) = none.warpedPatch(image: img, label: lab, centre: centre, size: box.size, using: &rng)
        #expect(wi.voxels == img.cropped(to: box).voxels && wl.voxels == lab.cropped(to: box).voxels)
    }

    /// Seeded: the same seed gives the same patches; another seed others. Intensity changes leave labels alone,
    /// keep the window's 0...1 range after gamma and keep the order of intensities.
    @Test func seededAndIntensityOnlyTouchesTheImage() {
        let (img, lab) = Self.shapes()
        let image = Volume(grid: img.grid, voxels: img.voxels.enumerated().map { Float($0.offset % 97) / 96 * 0.5 + $0.element * 0.25 })
        let sampler = PatchSampler(size: [24, 24, 16], augmentation: .standard)
        var r1 = SeededRandom(seed: 9), r2 = SeededRandom(seed: 9), r3 = SeededRandom(seed: 10)
        let a = sampler.sample(image: image, label: lab, count: 4, using: &r1)
        let b = sampler.sample(image: image, label: lab, count: 4, using: &r2)
        let c = sampler.sample(image: image, label: lab, count: 4, using: &r3)
        #expect(a.map(\.image.scalars) == b.map(\.image.scalars) && a.map(\.label.scalars) == b.map(\.label.scalars))
        #expect(a.map(\.image.scalars) != c.map(\.image.scalars))
        var v = Volume(grid: VoxelGrid(dims: [10, 10, 10], affine: .identity), voxels: (0..<1000).map { Float($0) / 999 })
        var rng = SeededRandom(seed: 4)
        var changed = false
        for _ in 0..<8 {
            var w = v
            Augmentation.standard.adjustIntensity(&w, using: &rng)
            #expect(zip(w.voxels, w.voxels.dropFirst()).allSatisfy { $0.0 <= $0.1 }, "order kept")
            changed = changed || w != v
        }
        #expect(changed)
        v.voxels = v.voxels.map { $0 * 1.0 }
    }

    /// Left-right mirroring moves image and label together along i (voxel (i, j, k) comes from (n-1-i, j, k)),
    /// in about half of the patches at 0.5, and never at 0.
    @Test func mirroringFlipsImageAndLabelTogether() {
        let (img, lab) = Self.shapes()
        let n = lab.dims[0]
        var rng = SeededRandom(seed: 3)
        var mirrored = 0
        for _ in 0..<400 {
            let (mi, ml) = Augmentation(mirrorLeftRight: 0.5).mirrored(img, lab, using: &rng)
            #expect(mi.voxels == ml.voxels)  // the image is the label here, so they stay equal only if moved alike
            if ml.voxels == lab.voxels { continue }
            mirrored += 1
            #expect((0..<lab.dims[2]).allSatisfy { k in (0..<lab.dims[1]).allSatisfy { j in (0..<n).allSatisfy { i in ml[i, j, k] == lab[n - 1 - i, j, k] } } })
        }
        #expect(mirrored > 160 && mirrored < 240, "\(mirrored) of 400 mirrored")  // binomial(400, 0.5): +-4 sd
        for _ in 0..<50 { #expect(Augmentation(mirrorLeftRight: 0).mirrored(img, lab, using: &rng).1.voxels == lab.voxels) }
    }
}
