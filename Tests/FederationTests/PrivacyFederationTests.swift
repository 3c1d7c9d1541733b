import Foundation
@testable import Imaging
import NN
import Testing
@testable import Federation

/// Differential privacy in the federation: the `privacy` section of the file, the budget a node keeps in its state
/// folder, and DP-SGD inside a site's local training.
@Suite struct PrivacyFederationTests {
    static func privateFile(_ privacy: [String: Any], rounds: Int = 3, epochs: Int = 2) -> FederationText {
        var t = FederationText()
        t.set("network.norm", "instance")
        t.set("rounds", rounds)
        t.set("localEpochs", epochs)
        t.set("privacy", privacy)
        return t
    }

    /// A file without `privacy` is read as before (no member in its canonical form, so its fingerprint is the
    /// one older builds computed); with it, the defaults are filled and the fingerprint changes.
    @Test func privacySectionIsOptionalAndFingerprinted() throws {
        let plain = try FederationFile.decode(FederationText().data)
        #expect(plain.privacy == nil)
        #expect(!plain.canonicalText().contains("privacy"))
        let t = Self.privateFile(["epsilon": 8])
        let f = try FederationFile.decode(t.data)
        let p = try #require(f.privacy)
        #expect(p.epsilon == 8 && p.delta == 1e-5 && p.clip == 1 && p.sampleRate == 0.1 && p.noiseMultiplier == nil)
        #expect(f.canonicalText().contains("\"privacy\""))
        var other = t
        other.set("privacy.epsilon", 4)
        #expect(try FederationFile.decode(other.data).fingerprint != f.fingerprint)
        // The derived noise multiplier spends at most the budget over the planned 3 rounds x 2 epochs x 10 steps.
        let s = try #require(try f.privacySettings())
        #expect(p.stepsPerRound(localEpochs: 2) == 20)
        let planned = try PrivacyAccount.epsilon(noiseMultiplier: s.noiseMultiplier, sampleRate: 0.1, steps: 60, delta: 1e-5)
        #expect(planned <= 8 && planned > 7.9)
    }

    /// Each setting that cannot hold is reported with its field, all at once.
    @Test func privacyProblemsNameTheirField() throws {
        func fields(_ t: FederationText) -> Set<String> { Set(t.problems.map(\.field)) }
        var batch = Self.privateFile(["epsilon": 8])
        batch.set("network.norm", "batch")
        #expect(fields(batch) == ["network.norm"])
        var fedbn = Self.privateFile(["epsilon": 8])
        fedbn.set("localPatterns", [".adn.N."])
        #expect(fields(fedbn) == ["localPatterns"])
        var heads = Self.privateFile(["epsilon": 8])
        heads.set("strategy", "heads")
        #expect(fields(heads).contains("strategy"))
        #expect(fields(Self.privateFile(["epsilon": 8, "noiseMultiplier": 1, "targetEpsilon": 4])) == ["privacy.targetEpsilon"])
        #expect(fields(Self.privateFile(["epsilon": 8, "targetEpsilon": 9])) == ["privacy.targetEpsilon"])
        // Too little noise for the planned rounds.
        #expect(fields(Self.privateFile(["epsilon": 1, "noiseMultiplier": 0.5])) == ["privacy.noiseMultiplier"])
        // Structural: epsilon required, sampleRate at most 1.
        #expect(fields(Self.privateFile(["clip": 1])) == ["privacy.epsilon"])
        #expect(fields(Self.privateFile(["epsilon": 8, "sampleRate": 1.5])) == ["privacy.sampleRate"])
        #expect(fields(Self.privateFile(["epsilon": 8])).isEmpty)
    }

    /// Spent epsilon survives a restart (the state folder), a round past the budget is refused with nothing
    /// charged, and the file is written atomically (nothing but the state file in the folder).
    @Test func budgetIsDurableAndEnforced() async throws {
        let dir = try temporaryDirectory() + "/state"
        let m = try SubsampledGaussian(sampleRate: 0.1, noiseMultiplier: 1.0)
        // One round of 20 steps at z = 1, q = 0.1: epsilon ~ 1.9 at delta 1e-5; two rounds ~ 2.8; three ~ 3.5.
        let one = try PrivacyAccount.epsilon(noiseMultiplier: 1, sampleRate: 0.1, steps: 20, delta: 1e-5)
        let two = try PrivacyAccount.epsilon(noiseMultiplier: 1, sampleRate: 0.1, steps: 40, delta: 1e-5)
        let three = try PrivacyAccount.epsilon(noiseMultiplier: 1, sampleRate: 0.1, steps: 60, delta: 1e-5)
        let budget = (two + three) / 2
        do {
            let memory = try NodeMemory(federation: "f", node: "n", directory: dir)
            try await memory.begin(round: 1, modelRound: 0, modelHash: "aa")
            let r = try await memory.chargePrivacy(round: 1, mechanism: m, steps: 20, budget: budget, delta: 1e-5)
            #expect(r.spent == 0 && abs(r.after - one) < 1e-12)
        }
        let restarted = try NodeMemory(federation: "f", node: "n", directory: dir)
        #expect(abs(try await restarted.spentEpsilon(delta: 1e-5) - one) < 1e-12)
        try await restarted.begin(round: 2, modelRound: 1, modelHash: "bb")
        try await restarted.chargePrivacy(round: 2, mechanism: m, steps: 20, budget: budget, delta: 1e-5)
        try await restarted.begin(round: 3, modelRound: 2, modelHash: "cc")
        await #expect(throws: ModelRefusal.self) {
            try await restarted.chargePrivacy(round: 3, mechanism: m, steps: 20, budget: budget, delta: 1e-5)
        }
        let after = try NodeMemory(federation: "f", node: "n", directory: dir)
        #expect(abs(try await after.spentEpsilon(delta: 1e-5) - two) < 1e-12, "the refused round charged nothing")
        #expect(await after.state.privacyRounds == [1, 2])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == [NodeMemory.fileName])
    }

    /// A site trains under DP-SGD: two scans of one patient are one unit, the steps taken are exactly the steps
    /// the node charges (epochs x ceil(1/q)), and the model changes and stays finite.
    @Test(.timeLimit(.minutes(5))) func siteTrainingTakesTheChargedSteps() throws {
        let grid = VoxelGrid(dims: [16, 16, 16], affine: .identity)
        var items: [TrainingSet.Item] = []
        for n in 0..<4 {
            var image = Volume(grid: grid, repeating: 0.1), label = Volume(grid: grid, repeating: 0)
            for k in 4..<12 { for j in (3 + n)..<11 { for i in 5..<13 {
                image.voxels[image.index(i, j, k)] = 0.8
                label.voxels[label.index(i, j, k)] = 1
            } } }
            items.append(.init(id: "case\(n)", image: image, label: label, patient: n < 2 ? "p0" : nil))
        }
        let set = TrainingSet(items: items, skipped: [], mapping: try LabelMapping(parsing: "msd-liver"),
                              preprocessing: Preprocessing(), originals: [])
        let network = FederationFile.NetworkSpec(channels: [2, 4], strides: [2], numResUnits: 1, norm: "instance")
        var model = FederatedModel(strategy: .single, organs: ["liver", "spleen"], network: network, seed: 3)
        let before = model.values
        var training = SiteTraining(set: set, organs: [.liver], patch: [16, 16, 16], patchesPerVolume: 1,
                                    recipe: .standard(learningRate: 1e-3, rounds: 1), seed: 9)
        training.privacy = try DPSGDSettings(clip: 1, noiseMultiplier: 1, sampleRate: 0.4)
        training.noiseSeed = 5
        #expect(training.patients.count == 3)
        var steps: [Int] = []
        training.train(model: &model, epochs: 2, round: 1)
        var fresh = OptimiserState()
        training.train(model: &model, epochs: 2, round: 2, optimiser: &fresh) { steps.append($0.privateSteps) }
        #expect(steps == [3, 6])
        #expect(training.privateSteps(epochs: 2) == 6)
        #expect(model.values != before && model.values.allSatisfy(\.isFinite))
    }
}
