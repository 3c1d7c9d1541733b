import Federation
import Foundation
import NN

extension ExperimentConfig {
    /// `--privacy-sweep`: the shipped recipe (``Setup/recipe``) trained federated with patient-level DP-SGD at every
    /// site, once per target epsilon, plus the same recipe without privacy, all for ``Training/rounds`` rounds. Each
    /// target becomes the federation file's `privacy` object (``spec(epsilon:)``), from which the noise multiplier is
    /// derived for the planned steps exactly as every node derives it (``FederationFile/PrivacySpec/settings(rounds:localEpochs:)``).
    public struct PrivacySweep: Codable, Equatable, Sendable {
        /// Target epsilons, strictly ascending; one setup each.
        public var epsilons: [Double]
        /// Delta of every guarantee (below 1 / the patients of the largest site).
        public var delta: Double
        /// L2 bound of one patient's gradient in one step.
        public var clip: Double
        /// Probability that a patient takes part in a step; a local epoch is `ceil(1 / sampleRate)` steps.
        public var sampleRate: Double
        /// Whether the recipe without privacy runs too (the sweep's reference, at the same rounds).
        public var includeNoPrivacy: Bool

        /// Targets 1, 4, 16, 64 at delta 1e-5, clip 1 (about the phantoms' mean per-patient gradient norm), a tenth of
        /// the patients per step, and the run without privacy.
        public static let defaults = PrivacySweep(epsilons: [1, 4, 16, 64], delta: 1e-5, clip: 1, sampleRate: 0.1,
                                                  includeNoPrivacy: true)

        /// The federation file's `privacy` object of the setup with target `epsilon` (the budget is the target).
        public func spec(epsilon: Double) -> FederationFile.PrivacySpec {
            FederationFile.PrivacySpec(epsilon: epsilon, delta: delta, clip: clip, sampleRate: sampleRate, targetEpsilon: epsilon)
        }

        /// The first bad field of the section itself, as (field, problem).
        func problem() -> (field: String, problem: String)? {
            if epsilons.isEmpty { return ("privacySweep.epsilons", "names no epsilon") }
            for (n, e) in epsilons.enumerated() {
                if !(e > 0 && e <= 1000) { return ("privacySweep.epsilons.\(n)", "\(e) must be within (0, 1000]") }
                if n > 0 && !(e > epsilons[n - 1]) { return ("privacySweep.epsilons.\(n)", "\(e) must be above the one before (ascending)") }
            }
            if !(delta > 0 && delta <= 0.1) { return ("privacySweep.delta", "\(delta) must be within (0, 0.1]") }
            if !(clip > 0 && clip <= 1e6) { return ("privacySweep.clip", "\(clip) must be within (0, 1e6]") }
            if !(sampleRate > 0 && sampleRate <= 1) { return ("privacySweep.sampleRate", "\(sampleRate) must be within (0, 1]") }
            return nil
        }
    }

    /// `--privacy-sweep`'s preset, sized for about a quarter of an hour on 2 cores (README): two sites of 200 small
    /// phantoms each (32 x 32 x 24 voxels at 9 mm, the standard field of view on a coarse grid), a small U-Net,
    /// whole-width patches, 10 rounds of 3 local epochs. The external set keeps the standard generator, seed and
    /// case count (on this grid).
    public static var privacySweepPreset: ExperimentConfig {
        var c = standard
        c.name = "SegViz privacy sweep: Dice against epsilon"
        c.phantom = Phantom(size: [32, 32, 24], spacing: 9)
        c.sites = [Site(id: "liver-a", organ: "liver", cases: 200, seed: 11),
                   Site(id: "spleen-b", organ: "spleen", cases: 200, seed: 22)]
        c.network = Network(channels: [4, 8, 16], numResUnits: 1, norm: "instance")
        c.training.rounds = 10
        c.training.localEpochs = 3
        c.training.patch = [32, 32, 16]
        c.training.patchesPerVolume = 1
        c.setups = [Setup.recipe.rawValue]
        c.recipe = .defaults  // one site per organ: the federation file's recipe (no distillation), as measured
        return c
    }

    /// What the sweep needs beyond ``validate(path:)``: instance normalisation (batch norm's running statistics
    /// are not private), a delta below one over the largest site's patients, and a noise multiplier for every
    /// target over the planned steps. Throws ``ExperimentError/config(path:field:problem:)`` naming the field.
    public func validatePrivacySweep(path: String) throws {
        func fail(_ field: String, _ problem: String) throws -> Never {
            throw ExperimentError.config(path: path, field: field, problem: problem)
        }
        try validate(path: path)
        let s = privacySweep
        if network.norm != "instance" {
            try fail("network.norm", "'\(network.norm)': DP-SGD needs instance normalisation (batch norm's running statistics are not private)")
        }
        let largest = sites.map(\.cases).max() ?? 1
        if !(s.delta < 1 / Double(largest)) {
            try fail("privacySweep.delta", "\(s.delta) must be below 1 / \(largest) (the patients of the largest site)")
        }
        for (n, e) in s.epsilons.enumerated() {
            do { _ = try s.spec(epsilon: e).settings(rounds: training.rounds, localEpochs: training.localEpochs) } catch {
                try fail("privacySweep.epsilons.\(n)", "no noise multiplier reaches \(e) over the planned steps: \(error)")
            }
        }
    }
}
