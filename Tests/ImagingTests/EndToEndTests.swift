import Foundation
import Synchronization
import Testing
import NN
import Tensor
@testable import Imaging

/// The Imaging pipeline with the real U-Net.
@Suite struct EndToEndTests {
    @Test func realCTInferredWithUNetKeepsInputGeometry() throws {
        let ct = try NIfTI.read(TestSupport.realCT)
        let net = UNet(.segviz(outChannels: Organ.classCount, channels: [4, 8, 16]), seed: 3)
        let seg = Segmenter(preprocessing: Preprocessing(spacing: SIMD3(4, 4, 4)), window: SlidingWindow(roi: [48, 48, 48], overlap: 0.25))
        var calls = 0
        let labels = try seg.segment(ct, predictor: { calls += 1; return net.predict($0) }, organs: [.liver])
        #expect(labels.grid == ct.grid)
        #expect(Set(labels.voxels).isSubset(of: [0, 1]))
        // 92 x 76 x 84 voxels (i, j, k) at 4 mm: 3 windows along i (0, 36, 44), 2 along j and k
        #expect(calls == 12)
        // written and read back with the same geometry
        let dir = TestSupport.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("mask.nii.gz")
        try NIfTI.write(labels, to: url, datatype: .uint8)
        let back = try NIfTI.read(url)
        #expect(back.dims == ct.dims && back.affine.isClose(to: ct.affine, tolerance: 1e-4) && back.voxels == labels.voxels)
    }

    @Test func trainingSetEpochsAreSeededAndModelInfoRoundTrips() throws {
        let dir = try DatasetTests.write(.msd, .liver, cases: 3)
        defer { try? FileManager.default.removeItem(at: dir) }
        let ds = try Dataset.open(dir)
        let set = try TrainingSet.load(ds, mapping: try LabelMapping(parsing: "msd-liver"), preprocessing: Preprocessing(spacing: SIMD3(7, 7, 7)))
        #expect(set.items.count == 3 && set.skipped.isEmpty)
        let sampler = PatchSampler(size: [16, 16, 16])
        let a = set.epoch(0, sampler: sampler, patchesPerVolume: 4, seed: 5), b = set.epoch(0, sampler: sampler, patchesPerVolume: 4, seed: 5)
        #expect(a.map(\.id) == b.map(\.id) && a.map(\.input) == b.map(\.input))
        #expect(a[0].input.shape == [4, 1, 16, 16, 16] && a[0].labels.shape == [4, 1, 16, 16, 16])
        #expect(set.epoch(1, sampler: sampler, patchesPerVolume: 4, seed: 5).map(\.input) != a.map(\.input))
        // one step of the U-Net on an epoch's batch runs and gives a finite loss
        let net = UNet(.segviz(outChannels: 3, channels: [4, 8]), seed: 1)
        let loss = net.trainStep(input: a[0].input, labels: a[0].labels, loss: .marginal(classes: 3, annotated: [1]), optimizer: Adam(net.parameters))
        #expect(loss.isFinite && loss > 0)
        let info = ModelInfo(organs: [.liver], labels: "1:liver,2:liver", spacing: SIMD3(3, 3, 3), window: .abdomen, patch: [64, 64, 64], channels: [16, 32])
        #expect(try ModelInfo(metadata: info.metadata, file: "m") == info)
        var broken = info.metadata
        broken["segviz.window"] = "wide"
        #expect(throws: ModelInfoError(file: "m", key: "segviz.window")) { try ModelInfo(metadata: broken, file: "m") }
    }

    /// A node's loading (two cases at once, originals dropped) gives the same preprocessed cases in
    /// the same order as the sequential load, and batches made one at a time equal an epoch's list.
    @Test func parallelLoadAndLazyBatchesMatchSequential() throws {
        let dir = try DatasetTests.write(.msd, .liver, cases: 4)
        defer { try? FileManager.default.removeItem(at: dir) }
        let ds = try Dataset.open(dir)
        let mapping = try LabelMapping(parsing: "msd-liver"), pre = Preprocessing(spacing: SIMD3(7, 7, 7))
        let sequential = try TrainingSet.load(ds, mapping: mapping, preprocessing: pre)
        let progress = Mutex([Int]())
        let parallel = try TrainingSet.load(ds, mapping: mapping, preprocessing: pre, keepOriginals: false, workers: 2) { done, total in
            progress.withLock { $0.append(done * 100 + total) }
        }
        #expect(parallel.items.map(\.id) == sequential.items.map(\.id))
        #expect(parallel.items.map(\.image.voxels) == sequential.items.map(\.image.voxels))
        #expect(parallel.items.map(\.label.voxels) == sequential.items.map(\.label.voxels))
        #expect(parallel.originals.isEmpty && sequential.originals.count == 4)
        #expect(progress.withLock { $0.sorted() } == [104, 204, 304, 404])
        let sampler = PatchSampler(size: [16, 16, 16])
        let list = sequential.epoch(3, sampler: sampler, patchesPerVolume: 2, seed: 9)
        var lazy = [(id: String, input: Tensor, labels: Tensor)]()
        parallel.forEachBatch(3, sampler: sampler, patchesPerVolume: 2, seed: 9) { lazy.append($0) }
        #expect(lazy.map(\.id) == list.map(\.id) && lazy.map(\.input) == list.map(\.input) && lazy.map(\.labels) == list.map(\.labels))
    }

    @Test func badCasesRefuseTrainingUnlessSkipped() throws {
        let dir = try DatasetTests.write(.msd, .liver, cases: 2)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("not a nifti file at all".utf8).write(to: dir.appendingPathComponent("labelsTr/liver_1.nii.gz"))
        let ds = try Dataset.open(dir)
        let mapping = try LabelMapping(parsing: "msd-liver")
        do { _ = try TrainingSet.load(ds, mapping: mapping, preprocessing: Preprocessing()); Issue.record("accepted a bad data set") } catch let e as DatasetRefused {
            #expect(e.problems.count == 1 && e.problems[0].file.hasSuffix("labelsTr/liver_1.nii.gz"))
        }
        let set = try TrainingSet.load(ds, mapping: mapping, preprocessing: Preprocessing(spacing: SIMD3(7, 7, 7)), skipBadCases: true)
        #expect(set.items.map(\.id) == ["liver_0"] && set.skipped.count == 1)
    }
}
