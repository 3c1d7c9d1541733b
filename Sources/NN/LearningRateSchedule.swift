import Foundation

/// The learning rate across a whole federated training: one global step count over every round, so that a
/// late round moves the weights less than an early one (non-IID FedAvg needs decaying steps, Li et al., ICLR 2020).
public enum LearningRateSchedule: String, Sendable, Codable, CaseIterable {
    /// The base rate at every step.
    case constant
    /// Cosine annealing from the base rate at step 0 to the minimum at `totalSteps`
    /// (PyTorch's `CosineAnnealingLR` with `T_max = totalSteps`, `eta_min = minimum`); the minimum after that.
    case cosine

    /// The rate at global step `step` (from 0) of `totalSteps`.
    public func rate(base: Float, minimum: Float, step: Int, totalSteps: Int) -> Float {
        switch self {
        case .constant:
            return base
        case .cosine:
            guard totalSteps > 0 else { return base }
            let x = min(1, max(0, Double(step) / Double(totalSteps)))
            return Float(Double(minimum) + 0.5 * Double(base - minimum) * (1 + cos(Double.pi * x)))
        }
    }
}
