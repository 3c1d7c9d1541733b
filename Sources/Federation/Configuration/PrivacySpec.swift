import Foundation
import NN

extension FederationFile {
    /// Patient-level differential privacy (`privacy` in the federation file; absent: none). Every node trains with
    /// DP-SGD: each local step Poisson-samples its patients at `sampleRate`, clips each sampled patient's gradient to
    /// `clip` and adds Gaussian noise of standard deviation `noiseMultiplier * clip`; its accountant composes every
    /// step of every round it trains, and it refuses a round that would take its spent epsilon past `epsilon`.
    public struct PrivacySpec: Codable, Equatable, Sendable {
        /// The budget: the most epsilon (at `delta`) any node may spend per patient over the whole federation.
        public var epsilon: Double
        /// Delta of the (epsilon, delta) guarantee; well below 1 / patients.
        public var delta: Double
        /// L2 bound of one patient's gradient in one step.
        public var clip: Double
        /// Probability that a patient takes part in a local step; a local epoch is `ceil(1 / sampleRate)` steps.
        /// The same at every site, so nothing published depends on a site's patient count.
        public var sampleRate: Double
        /// A fixed noise multiplier; nil: derived from ``targetEpsilon``.
        public var noiseMultiplier: Double?
        /// The epsilon the planned rounds should spend (at most ``epsilon``; nil: ``epsilon``), from which every
        /// node derives the same noise multiplier when ``noiseMultiplier`` is nil.
        public var targetEpsilon: Double?

        /// A specification; see the fields.
        public init(epsilon: Double, delta: Double = 1e-5, clip: Double = 1, sampleRate: Double = 0.1,
                    noiseMultiplier: Double? = nil, targetEpsilon: Double? = nil) {
            self.epsilon = epsilon; self.delta = delta; self.clip = clip; self.sampleRate = sampleRate
            self.noiseMultiplier = noiseMultiplier; self.targetEpsilon = targetEpsilon
        }

        /// Local DP-SGD steps in one round of `localEpochs` epochs.
        public func stepsPerRound(localEpochs: Int) -> Int {
            localEpochs * Int((1 / sampleRate).rounded(.up))
        }

        /// The noise multiplier every node uses: the fixed one, or the smallest with which the planned
        /// `rounds` of `localEpochs` spend at most the target.
        public func resolvedNoiseMultiplier(rounds: Int, localEpochs: Int) throws(PrivacyError) -> Double {
            if let z = noiseMultiplier { return z }
            return try PrivacyAccount.noiseMultiplier(targetEpsilon: targetEpsilon ?? epsilon, sampleRate: sampleRate,
                                                      steps: rounds * stepsPerRound(localEpochs: localEpochs), delta: delta)
        }

        /// The DP-SGD settings of a federation of `rounds` rounds of `localEpochs` epochs.
        public func settings(rounds: Int, localEpochs: Int) throws(PrivacyError) -> DPSGDSettings {
            try DPSGDSettings(clip: clip, noiseMultiplier: resolvedNoiseMultiplier(rounds: rounds, localEpochs: localEpochs),
                              sampleRate: sampleRate)
        }
    }

    /// The DP-SGD settings this file implies, or nil without `privacy`.
    public func privacySettings() throws(PrivacyError) -> DPSGDSettings? {
        try privacy?.settings(rounds: rounds, localEpochs: localEpochs)
    }
}

extension FederationSchema {
    /// The optional `privacy` object (absent: no differential privacy).
    static let privacyField = opt("privacy", .object([
        req("epsilon", .number(exclusiveMin: 0, min: nil, max: 1000),
            "Budget: the most epsilon any node spends per patient over the whole federation (every round)."),
        opt("delta", .number(exclusiveMin: 0, min: nil, max: 0.1), .number(1e-5), "Delta of the (epsilon, delta) guarantee; well below 1/patients."),
        opt("clip", .number(exclusiveMin: 0, min: nil, max: 1e6), .number(1), "L2 bound of one patient's gradient in one local step."),
        opt("sampleRate", .number(exclusiveMin: 0, min: nil, max: 1), .number(0.1),
            "Probability that a patient takes part in a local step (Poisson sampling); a local epoch is ceil(1/sampleRate) steps."),
        opt("noiseMultiplier", .nullable(.number(exclusiveMin: 0, min: nil, max: 1000)), nil,
            "Noise standard deviation over clip; null: derived from targetEpsilon."),
        opt("targetEpsilon", .nullable(.number(exclusiveMin: 0, min: nil, max: 1000)), nil,
            "Epsilon the planned rounds should spend (at most epsilon; null: epsilon); sets the noise multiplier when that is null."),
    ]), nil, "Patient-level differential privacy (DP-SGD at every node, budget enforced per node); absent: none.")
}

extension FederationValidator {
    /// What `privacy` implies: instance (not batch) normalisation, no FedBN, one way to set the noise, a target
    /// within the budget, and planned rounds that fit the budget.
    static func privacy(_ f: FederationFile) -> [FederationProblem] {
        guard let s = f.privacy else { return [] }
        var p: [FederationProblem] = []
        if f.network.norm == "batch" {
            p.append(.privacy(field: "network.norm", reason: "batch normalisation's running statistics are not private; use \"instance\" with privacy"))
        }
        if !f.localPatterns.isEmpty {
            p.append(.privacy(field: "localPatterns", reason: "blocks kept local (FedBN) are refused with privacy: they would be published un-noised"))
        }
        if f.strategy == .heads {
            p.append(.privacy(field: "strategy", reason: "privacy is accounted for one network per site; use strategy \"single\""))
        }
        if s.noiseMultiplier != nil, s.targetEpsilon != nil {
            p.append(.privacy(field: "privacy.targetEpsilon", reason: "give noiseMultiplier or targetEpsilon, not both"))
            return p
        }
        if let t = s.targetEpsilon, t > s.epsilon {
            p.append(.privacy(field: "privacy.targetEpsilon", reason: "\(t) exceeds the budget epsilon \(s.epsilon)"))
            return p
        }
        let steps = f.rounds * s.stepsPerRound(localEpochs: f.localEpochs)
        do {
            let z = try s.resolvedNoiseMultiplier(rounds: f.rounds, localEpochs: f.localEpochs)
            let planned = try PrivacyAccount.epsilon(noiseMultiplier: z, sampleRate: s.sampleRate, steps: steps, delta: s.delta)
            if planned > s.epsilon {
                p.append(.privacy(field: "privacy.noiseMultiplier", reason: String(format:
                    "%d rounds of %d steps at noise multiplier %g would spend epsilon %.3f, over the budget %g; raise the noise or lower rounds, localEpochs or sampleRate",
                    f.rounds, s.stepsPerRound(localEpochs: f.localEpochs), z, planned, s.epsilon)))
            }
        } catch {
            p.append(.privacy(field: "privacy.targetEpsilon", reason: "\(error)"))
        }
        return p
    }
}
