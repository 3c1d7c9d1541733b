import Foundation
import Imaging
import SecureAggregation
import Testing
@testable import Federation

/// Model selection on held-out cases: the node's split, the score vector's encoding, the aggregator's choice.
@Suite struct ModelSelectionTests {
    /// Four nodes (liver, spleen, liver, spleen), 2 held-out cases each, clip 1.
    func federation(allowSingle: Bool = false, organs: [[String]] = [["liver"], ["spleen"], ["liver"], ["spleen"]]) throws -> FederationFile {
        let dir = try temporaryDirectory()
        return try FederationSetup.create(keysDirectory: dir, name: "t", url: "http://127.0.0.1:1",
                                          nodes: organs.enumerated().map { .init(id: "n\($0.offset)", organs: $0.element) }) {
            $0.network = .init(channels: [4, 8], strides: [2], numResUnits: 1, norm: "batch")
            $0.secureAggregation.clip = 1
            $0.secureAggregation.allowSingleContributorBlocks = allowSingle
            $0.modelSelection = .init(heldOutCases: 2)
        }
    }

    func validation(_ round: Int, _ score: Double?) -> RoundValidation {
        RoundValidation(modelRound: round, diceSums: [:], counts: [:], annotatingSurvivors: [:],
                        basis: score == nil ? "none" : "organs", score: score)
    }

    @Test func aScriptedSequencePicksTheBestEarliestRound() {
        var s = ModelSelection()
        // Round r's scores evaluate model r - 1; round 4 aborted, so round 5 scores model 3 again.
        let seq: [(Int, Double?)] = [(0, 0.30), (1, 0.62), (2, 0.50), (3, 0.62), (3, nil), (5, 0.61)]
        var bests: [Int?] = []
        for (m, score) in seq { s.consider(validation(m, score)); bests.append(s.best?.round) }
        #expect(bests == [0, 1, 1, 1, 1, 1])
        #expect(s.best?.score == 0.62)
        s.consider(validation(6, 0.9))
        #expect(s.best?.round == 6)
    }

    @Test func theLedgerReplaysToTheSameChoice() {
        var records: [LedgerRecord] = []
        for (i, score) in [0.4, 0.7, 0.2].enumerated() {
            var r = RoundRecorder(round: i + 1, startedAt: Date()).record(
                status: .completed, abortReason: nil, roster: [], lastPhase: .unmasking, survivors: [], modelHash: "",
                previousModelHash: "", finishedAt: Date())
            r.validation = validation(i, score)
            records.append(r)
        }
        var aborted = records[2]
        aborted.status = .aborted
        aborted.validation = validation(9, 0.99)  // an aborted round's scores never count
        #expect(ModelSelection.restore(records: records + [aborted]).best?.round == 1)
    }

    @Test func organMeansNeedTwoAnnotatingSurvivorsElseThePooledMean() throws {
        let f = try federation()
        let sums = ValidationVector.Sums(diceSums: ["liver": 3.6, "spleen": 2.0], counts: ["liver": 4, "spleen": 4], errorBound: 0)
        let all = ModelSelection.validation(sums: sums, federation: f, survivors: ["n0", "n1", "n2", "n3"], modelRound: 4)
        #expect(all.basis == "organs" && all.modelRound == 4)
        #expect(abs((all.score ?? 0) - (0.9 + 0.5) / 2) < 1e-12)
        // n3 dropped: one spleen annotator survives, so its organ mean would be one node's; pool everything.
        let pooledSums = ValidationVector.Sums(diceSums: ["liver": 3.6, "spleen": 1.0], counts: ["liver": 4, "spleen": 2], errorBound: 0)
        let pooled = ModelSelection.validation(sums: pooledSums, federation: f, survivors: ["n0", "n1", "n2"], modelRound: 4)
        #expect(pooled.basis == "pooled" && pooled.annotatingSurvivors == ["liver": 2, "spleen": 1])
        #expect(abs((pooled.score ?? 0) - 4.6 / 6) < 1e-12)
        // With single-contributor blocks allowed, one annotator is enough.
        let single = ModelSelection.validation(sums: pooledSums, federation: try federation(allowSingle: true),
                                               survivors: ["n0", "n1", "n2"], modelRound: 4)
        #expect(single.basis == "organs" && abs((single.score ?? 0) - (0.9 + 0.5) / 2) < 1e-12)
        let none = ModelSelection.validation(sums: .init(diceSums: [:], counts: [:], errorBound: 0), federation: f,
                                             survivors: ["n0", "n1"], modelRound: 4)
        #expect(none.basis == "none" && none.score == nil)
    }

    @Test func encodedScoresSumToThePlainSums() throws {
        let f = try federation()
        let scores: [(HeldOutScores, Int)] = [
            (HeldOutScores(organs: ["liver": (1.8, 2)]), 6), (HeldOutScores(organs: ["spleen": (0.7, 2)]), 9),
            (HeldOutScores(organs: ["liver": (1.1, 2)]), 1), (HeldOutScores(organs: ["spleen": (1.95, 2)]), 4095)]
        var total = [Double](repeating: 0, count: 4)
        for (s, samples) in scores {
            let x = try ValidationVector.elements(federation: f, scores: s, samples: samples)
            #expect(x.allSatisfy { $0 >= 0 && $0 <= 1 })  // inside [-clip, clip]
            for i in x.indices { total[i] += Double(x[i]) * Double(samples) }  // what the weighted sum carries
        }
        // Σ w x · B / clip: liver 1.8 + 1.1, 4 cases; spleen 0.7 + 1.95, 4 cases.
        let expected = [2.9, 4, 2.65, 4]
        for i in 0..<4 { #expect(abs(total[i] * 2 - expected[i]) < 1e-5, "\(total)") }
    }

    @Test func organsWithTooFewAnnotatorsAreNeverSent() throws {
        let f = try federation(organs: [["liver"], ["liver"], ["spleen"]])
        let x = try ValidationVector.elements(federation: f, scores: HeldOutScores(organs: ["spleen": (1.5, 2)]), samples: 3)
        #expect(x == [0, 0, 0, 0])
    }

    @Test func scoresBeyondTheHeldOutCasesAreRefused() throws {
        let f = try federation()
        #expect(throws: FederationError.self) {
            _ = try ValidationVector.elements(federation: f, scores: HeldOutScores(organs: ["liver": (3, 3)]), samples: 3)
        }
        #expect(throws: FederationError.self) {
            _ = try ValidationVector.elements(federation: f, scores: HeldOutScores(organs: ["liver": (2.5, 2)]), samples: 3)
        }
    }

    @Test func theSecureLayoutEndsInTheValidationBlockEveryNodeFeeds() throws {
        let f = try federation()
        let model = FederatedModel(strategy: .single, organs: f.organNames, network: f.network, seed: 1)
        let layout = try ValidationVector.layout(federation: f, model: model)
        #expect(layout.blocks.last == Block(name: "validation", offset: model.values.count, count: 4))
        #expect(ValidationVector.blockMap(federation: f, model: model).allSatisfy { $0.last == true })
        var plain = f
        plain.modelSelection = nil
        #expect(try ValidationVector.layout(federation: plain, model: model).parameterCount == model.values.count)
    }

    @Test(.timeLimit(.minutes(5))) func heldOutCasesAreNeverTrainedOn() throws {
        let dir = try temporaryDirectory()
        let gen = PhantomGenerator(dims: [24, 24, 16], spacing: SIMD3(12, 12, 12))
        let writer = PhantomDatasetWriter(generator: gen, layout: .msd, annotate: .liver, seed: 5)
        _ = try writer.write(to: URL(fileURLWithPath: dir + "/data"), cases: 5)
        var f = try federation(organs: [["liver"], ["liver"]])
        f.training.spacing = [12, 12, 12]
        f.training.patch = [8, 8, 8]
        let mapping = try LabelMapping(parsing: writer.labelMapping)
        let trainer = try SiteTrainer(federation: f, node: "n0", dataset: dir + "/data", mapping: mapping, skipBadCases: false, log: { _ in })
        let held = Set(trainer.validation?.items.map(\.id) ?? [])
        let trained = Set(trainer.training.set.items.map(\.id))
        #expect(held.count == 2 && trained.count == 3 && held.isDisjoint(with: trained))
        // Every patch of several epochs comes from a training case.
        let sampler = PatchSampler(size: f.training.patch, augmentation: .standard)
        for e in 0..<4 {
            for b in trainer.training.set.epoch(e, sampler: sampler, patchesPerVolume: 1, seed: trainer.training.seed) {
                #expect(!held.contains(b.id))
            }
        }
        // The same cases are held out on every start; another node's seed holds out its own choice.
        let again = try SiteTrainer(federation: f, node: "n0", dataset: dir + "/data", mapping: mapping, skipBadCases: false, log: { _ in })
        #expect(Set(again.validation?.items.map(\.id) ?? []) == held)
        // The held-out cases are scored: one Dice per case and organ, within [0, 1].
        let model = FederatedModel(strategy: .single, organs: f.organNames, network: f.network, seed: 2)
        let scores = try trainer.heldOutScores(model: model)
        #expect(scores?.organs.keys.sorted() == ["liver"])
        #expect(scores?.organs["liver"].map { $0.count == 2 && $0.sum >= 0 && $0.sum <= 2 } == true)
        // A network that labels every voxel liver (all weights 0, every 3-channel bias (0, 100, 0)) scores each held-out
        // case 2|T| / (|V| + |T|), computed here from the label counts alone.
        var liverEverywhere = model
        for i in liverEverywhere.values.indices { liverEverywhere.values[i] = 0 }
        for e in model.entries where e.shape == [3] && e.name.hasSuffix(".bias") {
            liverEverywhere.values[e.offset + 1] = 100
        }
        let oracle = (trainer.validation?.items ?? []).map { item -> Double in
            let t = Double(item.label.voxels.filter { $0 == 1 }.count)
            return 2 * t / (Double(item.label.voxels.count) + t)
        }.reduce(0, +)
        let allLiver = try #require(try trainer.heldOutScores(model: liverEverywhere)?.organs["liver"])
        #expect(allLiver.count == 2 && abs(allLiver.sum - oracle) < 1e-9, "\(allLiver.sum) vs \(oracle)")
        // Holding out every case is refused by name.
        f.modelSelection = .init(heldOutCases: 5)
        #expect(throws: FederationError.self) {
            _ = try SiteTrainer(federation: f, node: "n0", dataset: dir + "/data", mapping: mapping, skipBadCases: false, log: { _ in })
        }
    }
}
