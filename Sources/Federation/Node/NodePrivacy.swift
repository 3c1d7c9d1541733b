import Foundation
import NN

extension NodeRunner {
    /// Charges the DP-SGD steps of `round`'s training to the node's durable memory before any training starts,
    /// and refuses the round (``ModelRefusal/privacyBudgetExhausted(round:spent:wouldSpend:budget:)``, logged)
    /// when they would take the node's spent epsilon past the federation's budget. Nothing without `privacy`.
    func chargePrivacy(round: Int) async throws {
        guard let spec = federation.privacy else { return }
        let settings: DPSGDSettings
        do {
            guard let s = try federation.privacySettings() else { return }
            settings = s
        } catch {
            throw FederationError.invalidField(field: "privacy", value: "\(error)", expected: "a privacy section the federation validator accepts")
        }
        let steps = spec.stepsPerRound(localEpochs: federation.localEpochs)
        let (spent, after) = try await memory.chargePrivacy(round: round, mechanism: settings.mechanism, steps: steps,
                                                             budget: spec.epsilon, delta: spec.delta)
        log(String(format: "round %d: privacy: %d DP-SGD steps at q=%g, noise multiplier %.4g, clip %g; spent epsilon %.4f -> %.4f of budget %g (delta %g)",
                   round, steps, settings.sampleRate, settings.noiseMultiplier, settings.clip, spent, after, spec.epsilon, spec.delta))
    }
}

extension NodeRunner {
    /// Signs and sends this node's ``PrivacyAttestation`` for attempt `round`/`session`, after the round was
    /// charged (or its update reused) and before the masked input: the aggregator refuses a masked input without
    /// one. Checks first that the spent epsilon is within the budget (an honest node never attests otherwise).
    /// Nothing without `privacy`.
    func attestPrivacy(round: Int, session: String) async throws {
        guard let spec = federation.privacy else { return }
        let spent = try await memory.spentEpsilon(delta: spec.delta)
        guard spent <= spec.epsilon else {
            throw ModelRefusal.privacyBudgetExhausted(round: round, spent: spent, wouldSpend: spent, budget: spec.epsilon)
        }
        let attestation: PrivacyAttestation
        do throws(PrivacyAttestation.Problem) {
            attestation = try PrivacyAttestation.make(federation: federation, node: id, round: round, session: session, key: key)
        } catch {
            throw FederationError.invalidField(field: "privacy", value: "\(error)", expected: "a privacy budget to attest")
        }
        try await client.attestPrivacy(round: round, session: session, attestation: attestation)
        log("round \(round): attested that the spent epsilon is within the budget \(spec.epsilon) (delta \(spec.delta))")
    }
}
