import Federation
import Foundation
import Testing
@testable import Experiment

/// The ablation ladder: the old setup, each change from it alone, and the whole recipe. Every step but the last
/// differs from the old setup in exactly the settings its name says (compared field by field here, not by the
/// ladder's own description), and the last equals the shipped recipe.
@Suite struct AblationTests {
    /// The settings a step can change, as name/value pairs.
    static func settings(_ c: ExperimentConfig) -> [String: String] {
        let r = c.recipe
        return ["norm": c.network.norm, "schedule": r.learningRateSchedule, "clip": "\(r.gradientClipNorm)",
                "keepState": "\(r.keepOptimiserState)", "distillation": r.distillation, "exclusion": "\(r.exclusionWeight)",
                "axisFlip": "\(r.axisFlip)", "weight": "\(r.distillationWeight)", "temperature": "\(r.distillationTemperature)",
                "finalRate": "\(r.finalLearningRate)", "server": c.serverOptimizer.manifestText,
                "weighting": c.weighting.rawValue]
    }

    @Test func eachStepChangesOneThingFromTheOldSetup() throws {
        let steps = Ablation.steps(from: .standard)
        #expect(steps.map(\.name) == ["old", "+instance-norm", "+schedule", "+hard-distillation", "+soft-distillation",
                                      "+exclusion", "+no-axis-flips", "+server-step", "+organ-balance", "recipe"])
        let old = Self.settings(steps[0].config)
        #expect(old["norm"] == "batch" && old["schedule"] == "constant" && old["distillation"] == "none" && old["axisFlip"] == "0.1")
        #expect(steps[0].config.serverOptimizer == .fedavg && steps[0].config.weighting == .samples)
        let expected: [String: Set<String>] = [
            "+instance-norm": ["norm"], "+schedule": ["schedule", "clip", "keepState"], "+hard-distillation": ["distillation"],
            "+soft-distillation": ["distillation"], "+exclusion": ["exclusion"], "+no-axis-flips": ["axisFlip"],
            "+server-step": ["server"], "+organ-balance": ["weighting"],
        ]
        for step in steps.dropFirst().dropLast() {
            let s = Self.settings(step.config)
            let changed = Set(s.keys.filter { s[$0] != old[$0] })
            #expect(changed == expected[step.name], "\(step.name) changed \(changed.sorted())")
            #expect(step.config.setups == [Setup.recipe.rawValue] && step.config.seeds == 1)
        }
        let last = try #require(steps.last)
        #expect(last.config.recipe == ExperimentConfig.standard.recipe && last.config.network.norm == ExperimentConfig.standard.network.norm)
        #expect(last.config.recipe.axisFlip == 0)
        #expect(last.config.serverOptimizer == ExperimentConfig.standard.serverOptimizer)
        #expect(ExperimentConfig.standard.serverOptimizer == .init(name: .fedavgm, learningRate: 2, beta1: 0))
        #expect(last.config.weighting == .organBalanced && ExperimentConfig.standard.weighting == .organBalanced)
    }
}
