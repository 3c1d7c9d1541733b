import Foundation
import Tensor

/// `torch.optim.Adam(lr, betas, eps, weight_decay=0)` over the `.parameter` blocks of a
/// ``ParameterStore`` (buffers are left alone).
public final class Adam {
    /// Step size.
    public var learningRate: Float
    /// Exponential decay of the first and second moment estimates.
    public var beta1: Float, beta2: Float
    /// Added to the denominator.
    public var eps: Float
    /// Steps taken so far.
    public private(set) var stepCount = 0
    private let store: ParameterStore
    private let m: FloatBuffer, v: FloatBuffer
    private let ranges: [Range<Int>]

    /// An optimiser for `store` with PyTorch's defaults.
    public init(_ store: ParameterStore, learningRate: Float = 1e-3, beta1: Float = 0.9,
                beta2: Float = 0.999, eps: Float = 1e-8) {
        self.store = store
        self.learningRate = learningRate; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps
        m = FloatBuffer(count: store.count, zeroed: true)
        v = FloatBuffer(count: store.count, zeroed: true)
        // Merge adjacent parameter blocks into ranges.
        var r: [Range<Int>] = []
        for b in store.blocks where b.kind == .parameter {
            if let last = r.last, last.upperBound == b.offset { r[r.count - 1] = last.lowerBound..<b.range.upperBound }
            else { r.append(b.range) }
        }
        ranges = r
    }

    /// Clears the moment estimates and the step count (e.g. after loading new global weights).
    public func reset() { m.zero(); v.zero(); stepCount = 0 }

    /// The optimiser's state: both moment estimates over the whole store (zero on buffers) and the step count.
    public struct State: Sendable, Equatable {
        /// First moment estimate, one value per float of the store.
        public var m: [Float]
        /// Second moment estimate, one value per float of the store.
        public var v: [Float]
        /// Steps taken (the bias corrections continue from here).
        public var steps: Int
        /// A state.
        public init(m: [Float], v: [Float], steps: Int) { self.m = m; self.v = v; self.steps = steps }
    }

    /// The current state (a copy).
    public var state: State { State(m: m.array, v: v.array, steps: stepCount) }

    /// Continues from `state` (e.g. the previous round's, kept at the node).
    /// - Precondition: both moments have the store's length and the step count is not negative.
    public func load(_ state: State) {
        precondition(state.m.count == store.count && state.v.count == store.count && state.steps >= 0,
                     "Adam.load: state of \(state.m.count)/\(state.v.count) values for a store of \(store.count)")
        state.m.withUnsafeBufferPointer { m.pointer.update(from: $0.baseAddress!, count: store.count) }
        state.v.withUnsafeBufferPointer { v.pointer.update(from: $0.baseAddress!, count: store.count) }
        stepCount = state.steps
    }

    /// One update from the store's gradients.
    public func step() {
        stepCount += 1
        let t = Double(stepCount)
        let bc1 = 1 - Double(beta1).pow(t), bc2 = 1 - Double(beta2).pow(t)
        let stepSize = Float(Double(learningRate) / bc1), bc2Sqrt = Float(bc2.squareRoot())
        let (b1, b2, e) = (beta1, beta2, eps)
        let pp = UncheckedSendable(store.values.pointer), pg = UncheckedSendable(store.gradients.pointer)
        let pm = UncheckedSendable(m.pointer), pv = UncheckedSendable(v.pointer)
        for range in ranges {
            Compute.forEachChunk(range.count, grain: 65_536) { local in
                let p = pp.value, g = pg.value, mm = pm.value, vv = pv.value
                for i in (local.lowerBound + range.lowerBound)..<(local.upperBound + range.lowerBound) {
                    let gi = g[i]
                    mm[i] += (gi - mm[i]) * (1 - b1)
                    vv[i] = vv[i] * b2 + (1 - b2) * gi * gi
                    let denom = vv[i].squareRoot() / bc2Sqrt + e
                    p[i] -= stepSize * mm[i] / denom
                }
            }
        }
    }
}

private extension Double {
    func pow(_ e: Double) -> Double { Foundation.pow(self, e) }
}
