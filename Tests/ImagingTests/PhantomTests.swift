import Foundation
import Testing
@testable import Imaging

@Suite struct PhantomTests {
    static let gen = PhantomGenerator(dims: [64, 64, 60], spacing: SIMD3(4.5, 4.5, 4.8))

    @Test func deterministicForSeedAndIndex() {
        let a = Self.gen.generate(seed: 11, index: 2), b = Self.gen.generate(seed: 11, index: 2)
        #expect(a.image == b.image && a.structures == b.structures)
        #expect(Self.gen.generate(seed: 12, index: 2).image != a.image)
        #expect(Self.gen.generate(seed: 11, index: 3).image != a.image)
        // orientation changes the storage, not the anatomy
        let lps = Self.gen.generate(seed: 11, index: 2, orientation: "LPS")
        let st = { (c: PhantomCase) in Volume(grid: c.image.grid, voxels: c.structures.map(Float.init)) }
        #expect(lps.image.orientation == "LPS" && st(lps).reoriented(to: "RAS").voxels == st(a).voxels)
        #expect(a.image.voxels.allSatisfy { $0 == $0.rounded() && $0 >= -1024 && $0 <= 3071 })
    }

    /// HU of one structure's voxels, sorted.
    static func hu(_ c: PhantomCase, _ s: PhantomStructure) -> [Float] {
        zip(c.image.voxels, c.structures).filter { $0.1 == Int8(s.rawValue) }.map(\.0).sorted()
    }

    @Test func liverAndSpleenOverlapInHUAndVaryInShape() {
        var liverVolumes = [Double](), liverCentres = [Double](), allLiver = [Float](), allSpleen = [Float]()
        for n in 0..<6 {
            let c = Self.gen.generate(seed: 5, index: n)
            let liver = Self.hu(c, .liver), spleen = Self.hu(c, .spleen)
            #expect(liver.count > 1000 && spleen.count > 100)
            // the middle 80% of each organ's HU overlap over most of the narrower range
            let l = (liver[liver.count / 10], liver[liver.count * 9 / 10]), s = (spleen[spleen.count / 10], spleen[spleen.count * 9 / 10])
            let overlap = min(l.1, s.1) - max(l.0, s.0)
            #expect(overlap > 0.35 * min(l.1 - l.0, s.1 - s.0), "case \(n): liver \(l) spleen \(s)")
            allLiver += liver; allSpleen += spleen
            // realistic values: soft tissue, not fat or bone
            #expect(l.0 > 30 && l.1 < 180 && s.0 > 30 && s.1 < 190)
            let vox = 4.5 * 4.5 * 4.8 / 1000
            liverVolumes.append(Double(liver.count) * vox)
            let xs = c.structures.indices.filter { c.structures[$0] == Int8(PhantomStructure.liver.rawValue) }
                .map { c.image.grid.affine.apply(SIMD3(Double($0 % 64), Double(($0 / 64) % 64), Double($0 / 4096))).z }
            liverCentres.append(xs.reduce(0, +) / Double(xs.count))
        }
        // pooled over the series, no HU threshold separates the organs
        allLiver.sort(); allSpleen.sort()
        let l = (allLiver[allLiver.count / 10], allLiver[allLiver.count * 9 / 10])
        let s = (allSpleen[allSpleen.count / 10], allSpleen[allSpleen.count * 9 / 10])
        #expect(min(l.1, s.1) - max(l.0, s.0) > 0.6 * min(l.1 - l.0, s.1 - s.0), "liver \(l) spleen \(s)")
        // typical adult liver volumes (ml) with visible case-to-case variation
        #expect(liverVolumes.allSatisfy { $0 > 800 && $0 < 2600 }, "\(liverVolumes)")
        #expect(liverVolumes.max()! / liverVolumes.min()! > 1.15)
        #expect(liverCentres.max()! - liverCentres.min()! > 8)
    }

    @Test func layoutsNumberStructuresAsTheRealSets() {
        let c = Self.gen.generate(seed: 9, index: 0)
        let liverMSD = PhantomDatasetWriter(generator: Self.gen, layout: .msd, annotate: .liver, seed: 9)
        #expect(liverMSD.labelValue(.liver) == 1 && liverMSD.labelValue(.lesion) == 2 && liverMSD.labelValue(.spleen) == 0)
        let spleenMSD = PhantomDatasetWriter(generator: Self.gen, layout: .msd, annotate: .spleen, seed: 9)
        #expect(spleenMSD.labelValue(.spleen) == 1 && spleenMSD.labelValue(.liver) == 0)
        let btcv = PhantomDatasetWriter(generator: Self.gen, layout: .btcv, annotate: .all, seed: 9)
        #expect(btcv.labelValue(.spleen) == 1 && btcv.labelValue(.liver) == 6 && btcv.labelValue(.lesion) == 6
                && btcv.labelValue(.kidneyRight) == 2 && btcv.labelValue(.aorta) == 8)
        // spleen-only labels hold spleen voxels only, though the image shows both organs
        let s = spleenMSD.labels(of: c)
        #expect(Set(s.voxels) == [0, 1])
        #expect(Self.hu(c, .liver).count > 1000)
        // some case of a series has lesions, labelled 2 in the liver set
        let withLesion = (0..<8).contains { n in Self.gen.generate(seed: 9, index: n).structures.contains(Int8(PhantomStructure.lesion.rawValue)) }
        #expect(withLesion)
    }
}
