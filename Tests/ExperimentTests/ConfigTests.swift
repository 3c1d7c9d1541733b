import Foundation
import Testing
@testable import Experiment
import Federation

@Suite struct ConfigTests {
    func decode(_ json: String) throws -> ExperimentConfig {
        try ExperimentConfig.decode(Data(json.utf8), path: "exp.json", over: .standard)
    }

    func expectField(_ json: String, _ field: String) {
        do {
            _ = try decode(json)
            Issue.record("accepted \(json)")
        } catch let e as ExperimentError {
            guard case let .config(path, f, _) = e else { Issue.record("\(e)"); return }
            #expect(path == "exp.json")
            #expect(f == field, "\(e)")
            #expect(e.description.hasPrefix("exp.json: field '\(field)'"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    /// The experiment trains what a node trains: its default recipe is the shipped one, field for field
    /// (augmentation and patch sampling included), but for the one setting a federation with one spleen site of
    /// three chooses (hard distillation); the privacy sweep's is the shipped one exactly; each sampling field it
    /// sets reaches the training.
    @Test func theExperimentsRecipeIsTheShippedOne() throws {
        let c = try decode("{}")
        var shipped = TrainingRecipe.standard(learningRate: 2e-3, rounds: 8)
        #expect(ExperimentConfig.privacySweepPreset.recipe.trainingRecipe(learningRate: 2e-3, rounds: 8) == shipped)
        #expect(shipped.distillation == .none)
        shipped.distillation = .hard
        #expect(c.recipe.trainingRecipe(learningRate: 2e-3, rounds: 8) == shipped)
        let set = try decode(#"{"recipe": {"positiveFraction": 0.25, "spatialAugmentation": 0.3, "mirrorLeftRight": 0.5}}"#)
        let r = set.recipe.trainingRecipe(learningRate: 2e-3, rounds: 8)
        #expect(r.positiveFraction == 0.25)
        #expect(r.augmentation.spatialProbability == 0.3)
        #expect(r.augmentation.mirrorLeftRight == 0.5)
    }

    @Test func overridesMergeOverThePreset() throws {
        let c = try decode(#"{"training": {"rounds": 3}, "seeds": 2}"#)
        #expect(c.training.rounds == 3)
        #expect(c.seeds == 2)
        #expect(c.training.localEpochs == ExperimentConfig.standard.training.localEpochs)
        #expect(c.sites == ExperimentConfig.standard.sites)
        #expect(try decode("{}") == .standard)
    }

    @Test func badFieldsAreNamed() {
        expectField(#"{"training": {"rounds": 0}}"#, "training.rounds")
        expectField(#"{"recipe": {"axisFlip": 1.5}}"#, "recipe.axisFlip")
        expectField(#"{"recipe": {"positiveFraction": -0.1}}"#, "recipe.positiveFraction")
        expectField(#"{"recipe": {"spatialAugmentation": 2}}"#, "recipe.spatialAugmentation")
        expectField(#"{"recipe": {"mirrorLeftRight": 1.01}}"#, "recipe.mirrorLeftRight")
        expectField(#"{"training": {"round": 3}}"#, "training.round")
        expectField(#"{"training": {"rounds": "many"}}"#, "training.rounds")
        expectField(#"{"setups": ["segviz", "fedprox"]}"#, "setups.1")
        expectField(#"{"sites": [{"id": "a", "organ": "kidney", "cases": 2, "seed": 1}]}"#, "sites.0.organ")
        expectField(#"{"sites": [{"id": "a", "organ": "liver", "cases": 2}]}"#, "sites.0.seed")
        expectField(#"{"sites": [{"id": "a", "organ": "liver", "cases": 2, "seed": 1}]}"#, "sites")
        expectField(#"{"training": {"patch": [30, 48, 48]}}"#, "training.patch")
        expectField(#"{"network": {"norm": "group"}}"#, "network.norm")
        expectField(#"{"clip": -1}"#, "clip")
        expectField(#"[1, 2]"#, "(top level)")
        expectField("{not json", "(file)")
    }

    @Test func unreadableFileIsNamed() {
        #expect { try ExperimentConfig.load(path: "/nonexistent/exp.json", over: .quick) } throws: { error in
            guard case let .config(path, field, _)? = error as? ExperimentError else { return false }
            return path == "/nonexistent/exp.json" && field == "(file)"
        }
    }

    @Test func presetsAreValid() throws {
        try ExperimentConfig.standard.validate(path: "standard")
        try ExperimentConfig.quick.validate(path: "quick")
        #expect(ExperimentConfig.quick.training.rounds * ExperimentConfig.quick.training.localEpochs
            < ExperimentConfig.standard.training.rounds * ExperimentConfig.standard.training.localEpochs)
    }
}
