import Foundation
import SecureAggregation
import Tensor

/// The aggregator's optimiser on the securely aggregated mean update (``FederationFile/ServerOptimizerSpec``):
/// a pure value (no I/O) holding the momentum, the second moment and the step count. ``ServerOptimizerStore``
/// keeps it on disk between rounds and across restarts.
public struct ServerOptimizer: Sendable, Equatable {
    /// What it does.
    public let spec: FederationFile.ServerOptimizerSpec
    /// Steps taken (rounds that completed).
    public private(set) var step: Int
    /// First moment (FedAdam, FedYogi) or momentum buffer (FedAvgM); empty for FedAvg.
    public private(set) var momentum: [Float]
    /// Second moment (FedAdam, FedYogi); empty otherwise.
    public private(set) var secondMoment: [Float]

    /// A fresh optimiser for `count` parameters: zero momentum, second moment τ² (Reddi et al.'s v₋₁).
    public init(spec: FederationFile.ServerOptimizerSpec, count: Int) {
        self.spec = spec
        step = 0
        switch spec.name {
        case .fedavg: momentum = []; secondMoment = []
        case .fedavgm: momentum = [Float](repeating: 0, count: count); secondMoment = []
        case .fedadam, .fedyogi:
            momentum = [Float](repeating: 0, count: count)
            secondMoment = [Float](repeating: Float(spec.tau * spec.tau), count: count)
        }
    }

    /// An optimiser restored from saved state (``ServerOptimizerStore``); the arrays must fit `spec`.
    init(spec: FederationFile.ServerOptimizerSpec, step: Int, momentum: [Float], secondMoment: [Float]) {
        self.spec = spec
        self.step = step
        self.momentum = momentum
        self.secondMoment = secondMoment
    }

    /// The parameter ranges the optimiser acts on: every tensor of `model` except batch-norm running statistics
    /// (averaged plainly: they describe activations, they are not trained).
    public static func optimisedRanges(_ model: FederatedModel) -> [Range<Int>] {
        model.entries.filter { !$0.name.hasSuffix(".running_mean") && !$0.name.hasSuffix(".running_var") }.map(\.range)
    }

    /// One server step: `values` moves by the round's weighted mean update `delta` through the optimiser on
    /// the elements of `optimised`, and by `delta` itself elsewhere. Ranges in `frozen` (tensors nobody
    /// contributed to this round) are left unchanged, their state too.
    public mutating func apply(to values: inout [Float], delta: [Float], optimised: [Range<Int>], frozen: [Range<Int>] = []) {
        precondition(delta.count == values.count, "ServerOptimizer: \(delta.count) updates for \(values.count) values")
        var plain = [Bool](repeating: true, count: values.count)
        for r in frozen { for i in r { plain[i] = false } }
        var mine = [Bool](repeating: false, count: values.count)
        if spec.name != .fedavg { for r in optimised { for i in r where plain[i] { mine[i] = true; plain[i] = false } } }
        for i in values.indices where plain[i] { values[i] += delta[i] }
        let eta = spec.learningRate, b1 = spec.beta1, b2 = spec.beta2, tau = spec.tau
        for i in values.indices where mine[i] {
            let d = Double(delta[i])
            switch spec.name {
            case .fedavg:
                break
            case .fedavgm:
                let m = b1 * Double(momentum[i]) + d
                momentum[i] = Float(m)
                values[i] = Float(Double(values[i]) + eta * m)
            case .fedadam, .fedyogi:
                let m = b1 * Double(momentum[i]) + (1 - b1) * d
                let v0 = Double(secondMoment[i]), d2 = d * d
                let v = spec.name == .fedadam ? b2 * v0 + (1 - b2) * d2
                    : v0 - (1 - b2) * d2 * (v0 - d2 > 0 ? 1 : v0 - d2 < 0 ? -1 : 0)
                momentum[i] = Float(m)
                secondMoment[i] = Float(v)
                values[i] = Float(Double(values[i]) + eta * m / (v.squareRoot() + tau))
            }
        }
        step += 1
    }
}

extension ServerOptimizer {
    /// The next global model from `current` and a completed round's `result` (whose layout starts with the model's
    /// tensors, one block each): the weighted mean update through this optimiser; tensors nobody contributed to
    /// stay as they are.
    public mutating func nextModel(from current: FederatedModel, result: AggregateResult) -> FederatedModel {
        let mean = result.weightedMean()
        let p = current.values.count
        let delta = mean.count == p ? mean : Array(mean[0..<p])
        let frozen = zip(current.entries, result.blockContributors).filter { $0.1 == 0 }.map { $0.0.range }
        var next = current.values
        apply(to: &next, delta: delta, optimised: Self.optimisedRanges(current), frozen: frozen)
        return current.copy(values: next)
    }
}
