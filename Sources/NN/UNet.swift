import Tensor

/// The configuration of MONAI's `UNet(spatial_dims=3, ...)`.
public struct UNetConfig: Sendable, Codable, Equatable {
    /// Input channels (1 for CT).
    public var inChannels: Int
    /// Output channels (classes, background included).
    public var outChannels: Int
    /// Channels per level, top to bottom (at least 2 levels).
    public var channels: [Int]
    /// Down-sampling stride between consecutive levels (`channels.count - 1` entries).
    public var strides: [Int]
    /// Residual units per down level (0: plain convolutions).
    public var numResUnits: Int
    /// Normalisation inside the blocks.
    public var norm: Normalization

    /// A configuration; see MONAI's `UNet` for the meaning of each field.
    public init(inChannels: Int = 1, outChannels: Int, channels: [Int], strides: [Int],
                numResUnits: Int = 2, norm: Normalization = .batch) {
        precondition(channels.count >= 2, "UNetConfig: needs at least 2 channel levels, got \(channels)")
        precondition(strides.count == channels.count - 1, "UNetConfig: \(strides.count) strides for \(channels.count) levels")
        precondition(strides.allSatisfy { $0 == 1 || $0 == 2 }, "UNetConfig: strides must be 1 or 2, got \(strides)")
        self.inChannels = inChannels; self.outChannels = outChannels
        self.channels = channels; self.strides = strides
        self.numResUnits = numResUnits; self.norm = norm
    }

    /// The SegViz network: channels 16, 32, 64, 128, 256, strides 2, two residual units, batch norm.
    public static func segviz(outChannels: Int = 3, channels: [Int] = [16, 32, 64, 128, 256]) -> UNetConfig {
        UNetConfig(outChannels: outChannels, channels: channels,
                   strides: Array(repeating: 2, count: channels.count - 1))
    }

    /// The state_dict prefix of the task head (the last up level, whose output is the logits).
    public static let taskHeadPrefix = "model.2."

    /// Spatial extents must be multiples of this (the product of the strides).
    public var sizeMultiple: Int { strides.reduce(1, *) }
}

/// MONAI's 3-D `UNet`, with its module structure and `state_dict` names
/// (`model.0` down level, `model.1.submodule` the rest, `model.2` the task head).
///
/// Tensors are `NCDHW` Float32: input `N x inChannels x D x H x W` (extents multiples of
/// ``UNetConfig/sizeMultiple``), logits `N x outChannels x D x H x W`. Parameters and running
/// statistics live in ``parameters``; gradients accumulate there across ``backward(_:)`` calls.
/// Not thread-safe: one caller at a time (the kernels use ``Compute/threads`` workers inside).
public final class UNet {
    /// The configuration the network was built with.
    public let config: UNetConfig
    /// All parameters, running statistics, gradients and `num_batches_tracked` counters.
    public let parameters: ParameterStore
    /// When set, per-layer-type times and FLOPs are recorded into it.
    public var profiler: Profiler?
    /// Eval mode folds batch norm + PReLU into the convolutions before them where the direct kernels run
    /// (the same numbers up to float rounding); false runs them as separate passes (tests compare the two).
    var foldsNormalization = true
    private var weightCache: PackedWeightCache?
    let model: Layer
    private var lastTrainingForward = false

    /// Builds the network with PyTorch's default initialisation drawn from `seed`
    /// (load MONAI weights with ``load(_:prefix:)`` for identical numbers).
    public init(_ config: UNetConfig, seed: UInt64 = 0) {
        self.config = config
        let b = StoreBuilder(seed: seed)
        let nru = config.numResUnits, norm = config.norm

        func downLayer(_ name: String, _ cin: Int, _ cout: Int, _ s: Int, isFirst: Bool) -> Layer {
            if nru > 0 {
                let ru = ResidualUnit(b, name: name, in: cin, out: cout, stride: s, subunits: nru, lastConvOnly: false, norm: norm)
                if isFirst { ru.setNeedsInputGradient(false) }
                return ru
            }
            let c = ConvBlock(b, name: name, in: cin, out: cout, stride: s, transposed: false, convOnly: false, norm: norm)
            if isFirst { (c.conv as? Conv3d)?.needsInputGradient = false }
            return c
        }
        func upLayer(_ name: String, _ cin: Int, _ cout: Int, _ s: Int, isTop: Bool) -> Layer {
            if nru > 0 {
                let conv = ConvBlock(b, name: name + ".0", in: cin, out: cout, stride: s, transposed: true, convOnly: false, norm: norm)
                let ru = ResidualUnit(b, name: name + ".1", in: cout, out: cout, stride: 1, subunits: 1, lastConvOnly: isTop, norm: norm)
                return Sequential([conv, ru])
            }
            return ConvBlock(b, name: name, in: cin, out: cout, stride: s, transposed: true, convOnly: isTop, norm: norm)
        }
        func block(_ prefix: String, _ inc: Int, _ outc: Int, _ ch: ArraySlice<Int>, _ st: ArraySlice<Int>, isTop: Bool) -> Layer {
            let c = ch.first!, s = st.first!
            let down = downLayer(prefix + ".0", inc, c, s, isFirst: isTop)
            let sub: Layer, upc: Int
            if ch.count > 2 {
                sub = block(prefix + ".1.submodule", c, c, ch.dropFirst(), st.dropFirst(), isTop: false)
                upc = c * 2
            } else {
                sub = downLayer(prefix + ".1.submodule", c, ch[ch.startIndex + 1], 1, isFirst: false)
                upc = c + ch[ch.startIndex + 1]
            }
            let up = upLayer(prefix + ".2", upc, outc, s, isTop: isTop)
            return Sequential([down, SkipConnection(sub), up])
        }
        model = block("model", config.inChannels, config.outChannels, config.channels[...], config.strides[...], isTop: true)
        parameters = b.build()
    }

    /// Logits `N x outChannels x D x H x W` for `input` (`N x inChannels x D x H x W`).
    /// `training`: batch norm uses batch statistics and updates its running statistics, and the
    /// activations needed by ``backward(_:)`` are kept; otherwise running statistics are used.
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        forwardActivation(Activation(validated(input)), training: training).tensor
    }

    /// Accumulates into ``ParameterStore`` gradients the gradient of a loss whose gradient with
    /// respect to the logits of the last training-mode ``forward(_:training:)`` is `dLogits`.
    public func backward(_ dLogits: Tensor) {
        backwardActivation(Activation(dLogits))
    }

    func validated(_ input: Tensor) -> Tensor {
        let m = config.sizeMultiple
        precondition(input.rank == 5 && input.shape[1] == config.inChannels,
                     "UNet: input shape \(input.shape) is not N x \(config.inChannels) x D x H x W")
        precondition(input.shape[2...].allSatisfy { $0 > 0 && $0 % m == 0 },
                     "UNet: spatial extents of \(input.shape) must be positive multiples of \(m)")
        return input
    }

    /// Runs `body`, inside which the weights must not change (no training step, no load): eval-mode passes
    /// then keep each layer's weights packed for the direct kernels (batch norm folded in) from the first
    /// pass on, instead of packing them again for every window of a sliding window. Same numbers.
    public func withFrozenWeights<R>(_ body: () throws -> R) rethrows -> R {
        let saved = weightCache
        if weightCache == nil { weightCache = PackedWeightCache() }
        defer { weightCache = saved }
        return try body()
    }

    func forwardActivation(_ x: Activation, training: Bool) -> Activation {
        lastTrainingForward = training
        // a training step changes the weights: nothing packed before it stays valid
        if training, weightCache != nil { weightCache = PackedWeightCache() }
        return model.forward(x, Context(store: parameters, training: training, profiler: profiler,
                                        foldsNormalization: foldsNormalization, weightCache: weightCache))
    }

    func backwardActivation(_ dy: Activation) {
        precondition(lastTrainingForward, "UNet.backward needs a preceding forward(training: true)")
        lastTrainingForward = false
        _ = model.backward(dy, Context(store: parameters, training: true, profiler: profiler))
    }
}
