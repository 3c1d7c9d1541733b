import Foundation
import NN
import Tensor
import Testing
@testable import Federation
@testable import Imaging

/// The training recipe a node, the demo and the experiment share: its federation-file defaults, the distillation
/// weight ramp and the schedule's position, the node's optimiser state on disk (atomic, survives a restart, a
/// bad file is an error naming it), and local training with it.
@Suite struct TrainingRecipeTests {
    @Test func theFederationFileDefaultsAreTheRecipesDefaults() throws {
        let f = try FederationFile.decode(FederationText().data)
        #expect(f.network.norm == "instance")
        let r = try TrainingRecipe(federation: f)
        #expect(r == TrainingRecipe.standard(learningRate: Float(f.training.learningRate), rounds: f.rounds))
        #expect(r.schedule == .cosine && r.distillation == .none && r.gradientClipNorm == 1 && r.keepOptimiserState)
        #expect(f.training.finalLearningRate == 2e-5 && f.training.distillationWeight == [0.01, 1])
    }

    /// `training.axisFlip` and `.positiveFraction`: absent, the recipe never flips a patch along an axis and centres
    /// half on an organ; a value is read into the recipe; a value outside 0...1 is refused with the field named.
    @Test func axisFlipAndPositiveFractionAreReadFromTheFederationFile() throws {
        var t = FederationText()
        #expect(try TrainingRecipe(federation: FederationFile.decode(t.data)).axisFlip == 0)
        t.set("training.axisFlip", 0.25)
        #expect(try TrainingRecipe(federation: FederationFile.decode(t.data)).axisFlip == 0.25)
        t.set("training.axisFlip", 1.5)
        #expect(t.problems.contains { $0.field == "training.axisFlip" })
        var f = try FederationFile.decode(FederationText().data)
        f.training.axisFlip = -0.1
        #expect(throws: FederationError.self) { try TrainingRecipe(federation: f) }
        t = FederationText()
        #expect(try TrainingRecipe(federation: FederationFile.decode(t.data)).positiveFraction == 0.5)
        t.set("training.positiveFraction", 0.25)
        #expect(try TrainingRecipe(federation: FederationFile.decode(t.data)).positiveFraction == 0.25)
        t.set("training.positiveFraction", -1)
        #expect(t.problems.contains { $0.field == "training.positiveFraction" })
    }

    /// A sampler at flip probability 0 without mirroring never turns a patch: in every patch of an image whose
    /// voxel value grows with its index the values increase along i, j and k (at 0.1 per axis, 40 patches
    /// would all keep their orientation with probability 0.729^40, about 3e-6).
    @Test func withoutFlipsEveryPatchKeepsItsOrientation() {
        let dims = [12, 10, 8]
        let n = dims.reduce(1, *)
        let grid = VoxelGrid(dims: dims, affine: .identity)
        let image = Volume(grid: grid, voxels: (0..<n).map { Float($0) / Float(n) + 0.001 })
        let label = Volume(grid: grid, voxels: (0..<n).map { $0 % 7 == 0 ? 1 : 0 })
        let sampler = PatchSampler(size: [6, 4, 4], flipProbability: 0, scaleFactor: 0, shiftOffset: 0,
                                   augmentation: Augmentation(spatialProbability: 0, contrast: 1...1, gamma: 1...1, mirrorLeftRight: 0))
        var rng = SeededRandom(seed: 5)
        for p in sampler.sample(image: image, label: label, count: 40, using: &rng) {
            let v = p.image.scalars
            // tensor order (i, j, k), k fastest: +1 is k, +4 is j, +16 is i
            #expect(v[1] > v[0] && v[4] > v[0] && v[16] > v[0])
        }
    }

    /// Five rounds, weight 0.01 to 1: by hand 0.01 after 0 completed rounds, 0.01 + 0.99 x 2/4 = 0.505 after 2,
    /// 1 after 4 and after any later count.
    @Test func distillationWeightRampsLinearlyOverTheRounds() {
        let r = TrainingRecipe.standard(learningRate: 1e-3, rounds: 5)
        #expect(abs(r.distillationWeight(completedRounds: 0) - 0.01) <= 1e-12)
        #expect(abs(r.distillationWeight(completedRounds: 2) - 0.505) <= 1e-12)
        #expect(abs(r.distillationWeight(completedRounds: 4) - 1) <= 1e-12)
        #expect(abs(r.distillationWeight(completedRounds: 9) - 1) <= 1e-12)
    }

    /// Four rounds of 10 steps from 1e-3 to 0: after 2 completed rounds the schedule is at its middle (5e-4);
    /// at step 5 of round 4 (35 of 40) 5e-4 (1 + cos(7 pi / 8)) = 3.806023e-5.
    @Test func theScheduleCountsTheStepsOfCompletedRounds() {
        var r = TrainingRecipe.standard(learningRate: 1e-3, rounds: 4)
        r.finalLearningRate = 0
        #expect(abs(r.learningRate(completedRounds: 0, step: 0, stepsPerRound: 10) - 1e-3) <= 1e-9)
        #expect(abs(r.learningRate(completedRounds: 2, step: 0, stepsPerRound: 10) - 5e-4) <= 1e-9)
        #expect(abs(r.learningRate(completedRounds: 3, step: 5, stepsPerRound: 10) - 3.806023e-5) <= 1e-9)
        #expect(TrainingRecipe.plain(learningRate: 2e-3, rounds: 4).learningRate(completedRounds: 3, step: 5, stepsPerRound: 10) == 2e-3)
    }

    static let state = OptimiserState(networks: [
        "model": Adam.State(m: [0.5, -1, 0], v: [0.25, 1, 0], steps: 7),
        "spleen": Adam.State(m: [1], v: [2], steps: 3),
    ])

    @Test func optimiserStateRoundTripsThroughItsFile() throws {
        let path = try temporaryDirectory() + "/" + OptimiserState.fileName
        try Self.state.save(path: path, federation: "f", node: "n")
        #expect(try OptimiserState.load(path: path, federation: "f", node: "n") == Self.state)
        // No temporary file is left beside it.
        let dir = (path as NSString).deletingLastPathComponent
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == [OptimiserState.fileName])
    }

    /// Every bad file is a `FederationError.badStateFile` naming that file.
    @Test func aBadOptimiserStateFileIsAnErrorNamingTheFile() throws {
        let dir = try temporaryDirectory()
        func refused(_ bytes: [UInt8], federation: String = "f", node: String = "n") -> Bool {
            let path = dir + "/" + OptimiserState.fileName
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            do { _ = try OptimiserState.load(path: path, federation: federation, node: node); return false } catch let e as FederationError {
                if case .badStateFile(let p, .optimiserState, _) = e { return p == path }
                return false
            } catch { return false }
        }
        let good = Self.state.safetensors(federation: "f", node: "n").encode()
        #expect(refused(Array(good.prefix(good.count - 5))))  // truncated
        #expect(refused(Array("not a safetensors file".utf8)))
        #expect(refused(good, node: "other"))
        #expect(refused(good, federation: "other"))
        var nan = Self.state.safetensors(federation: "f", node: "n")
        nan.set("model.v", .f32(shape: [3], values: [0.25, .nan, 0]))
        #expect(refused(nan.encode()))
        var negative = Self.state.safetensors(federation: "f", node: "n")
        negative.set("model.steps", .i64(shape: [], values: [-1]))
        #expect(refused(negative.encode()))
        var stray = Self.state.safetensors(federation: "f", node: "n")
        stray.set("weights", .f32(shape: [1], values: [1]))
        #expect(refused(stray.encode()))
        // The node refuses to start with it, naming the file.
        #expect(throws: FederationError.self) { try OptimiserMemory(directory: dir, federation: "f", node: "n") }
    }

    /// A tiny site (two 16^3 volumes with a liver cube) trained for two rounds with the recipe: Adam's state
    /// counts every step, is written to the state folder, and a restarted node reads back the same state.
    @Test(.timeLimit(.minutes(5))) func siteTrainingKeepsTheOptimiserStateAcrossRoundsAndRestarts() throws {
        let set = try Self.tinySet()
        let network = FederationFile.NetworkSpec(channels: [2, 4], strides: [2], numResUnits: 1, norm: "instance")
        var model = FederatedModel(strategy: .single, organs: ["liver", "spleen"], network: network, seed: 3)
        let training = SiteTraining(set: set, organs: [.liver], patch: [16, 16, 16], patchesPerVolume: 1,
                                    recipe: .standard(learningRate: 1e-3, rounds: 2), seed: 9)
        let dir = try temporaryDirectory()
        let memory = try OptimiserMemory(directory: dir, federation: "f", node: "n")
        var rates: [Float] = []
        for round in 1...2 {
            var state = memory.current
            let global = model
            training.train(model: &model, epochs: 2, round: round, completedRounds: round - 1, teacher: global,
                           optimiser: &state) { rates.append($0.learningRate) }
            try memory.replace(with: state)
        }
        let kept = try #require(memory.current.networks[OptimiserState.singleKey])
        #expect(kept.steps == 2 * 2 * set.items.count)
        #expect(kept.m.count == model.network().parameters.count)
        #expect(kept.m.contains { $0 != 0 } && model.values.allSatisfy(\.isFinite))
        // The rate decays from round to round (cosine over 2 rounds x 4 steps).
        #expect(rates.count == 4 && zip(rates.dropFirst(), rates).allSatisfy { $0 < $1 })
        let restarted = try OptimiserMemory(directory: dir, federation: "f", node: "n")
        #expect(restarted.current == memory.current)
    }

    static func tinySet() throws -> TrainingSet {
        let grid = VoxelGrid(dims: [16, 16, 16], affine: .identity)
        var items: [TrainingSet.Item] = []
        for n in 0..<2 {
            var image = Volume(grid: grid, repeating: 0.1), label = Volume(grid: grid, repeating: 0)
            for k in 4..<12 { for j in (3 + n)..<11 { for i in 5..<13 {
                image.voxels[image.index(i, j, k)] = 0.8
                label.voxels[label.index(i, j, k)] = 1
            } } }
            items.append(.init(id: "case\(n)", image: image, label: label))
        }
        return TrainingSet(items: items, skipped: [], mapping: try LabelMapping(parsing: "msd-liver"),
                           preprocessing: Preprocessing(), originals: [])
    }
}
