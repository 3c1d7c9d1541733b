import Tensor

/// A batch of volumes in `NCDHW` layout held in a ``FloatBuffer`` (the layers' internal currency).
struct Activation {
    var n: Int, c: Int, d: Int, h: Int, w: Int
    let buffer: FloatBuffer

    /// A new, uninitialised (or zeroed) activation.
    init(n: Int, c: Int, d: Int, h: Int, w: Int, zeroed: Bool = false) {
        self.n = n; self.c = c; self.d = d; self.h = h; self.w = w
        buffer = FloatBuffer(count: n * c * d * h * w, zeroed: zeroed)
    }

    init(n: Int, c: Int, d: Int, h: Int, w: Int, buffer: FloatBuffer) {
        precondition(buffer.count == n * c * d * h * w, "Activation: buffer of \(buffer.count) for \([n, c, d, h, w])")
        self.n = n; self.c = c; self.d = d; self.h = h; self.w = w
        self.buffer = buffer
    }

    /// Copies a 5-D tensor. - Precondition: rank 5.
    init(_ t: Tensor) {
        precondition(t.rank == 5, "expected an NCDHW tensor, got shape \(t.shape)")
        self.init(n: t.shape[0], c: t.shape[1], d: t.shape[2], h: t.shape[3], w: t.shape[4],
                  buffer: FloatBuffer(t.scalars))
    }

    var pointer: UnsafeMutablePointer<Float> { buffer.pointer }
    var spatial: Int { d * h * w }
    var count: Int { n * c * spatial }
    var shape: [Int] { [n, c, d, h, w] }
    var tensor: Tensor { Tensor(shape: shape, scalars: buffer.array) }
    /// Same n and spatial extents, `channels` channels.
    func like(channels: Int, zeroed: Bool = false) -> Activation {
        Activation(n: n, c: channels, d: d, h: h, w: w, zeroed: zeroed)
    }
}

/// Pointers and mode for one pass: parameter values, their gradients, integer buffers.
final class Context {
    let params: UnsafeMutablePointer<Float>
    let grads: UnsafeMutablePointer<Float>
    let training: Bool
    let store: ParameterStore
    /// Per-layer-type timing, filled when `SEGVIZ_PROFILE` is set.
    let profiler: Profiler?
    /// Whether eval-mode batch norm + PReLU may be folded into the convolution before them (``FoldedNorm``).
    let foldsNormalization: Bool
    /// Packed weights kept across the passes of ``UNet/withFrozenWeights(_:)`` (nil: pack on every pass).
    let weightCache: PackedWeightCache?

    init(store: ParameterStore, training: Bool, profiler: Profiler? = nil, foldsNormalization: Bool = true,
         weightCache: PackedWeightCache? = nil) {
        self.store = store
        params = store.values.pointer
        grads = store.gradients.pointer
        self.training = training
        self.profiler = profiler
        self.foldsNormalization = foldsNormalization
        self.weightCache = training ? nil : weightCache
    }

    /// `layer`'s packed weights (and folded bias): from the cache when this pass has one and it holds them
    /// in the same form (`folded`), else from `make`.
    func packed(_ layer: AnyObject, folded: Bool, _ make: () -> PackedWeightCache.Entry) -> PackedWeightCache.Entry {
        weightCache?.entry(layer, folded: folded, make) ?? make()
    }

    /// Profile each convolution by channels and size (`SEGVIZ_PROFILE=layers`).
    var detail: Bool { profiler?.perLayer ?? false }

    @inline(__always)
    func timed<R>(_ kind: String, flops: Double = 0, _ body: () -> R) -> R {
        guard let profiler else { return body() }
        return profiler.measure(kind, flops: flops, body)
    }
}

/// A module of the network: forward keeps what its backward needs when training.
protocol Layer: AnyObject {
    /// Output for `x`; when `ctx.training`, remembers what ``backward(_:_:)`` needs.
    func forward(_ x: Activation, _ ctx: Context) -> Activation
    /// Accumulates parameter gradients into `ctx.grads` and returns the input gradient
    /// (nil when the layer was told its input needs none).
    func backward(_ dy: Activation, _ ctx: Context) -> Activation?
}

/// `a += b` element-wise (same shape), on all workers.
func addInPlace(_ a: Activation, _ b: Activation) {
    precondition(a.shape == b.shape, "add: shapes \(a.shape) and \(b.shape) differ")
    let pa = UncheckedSendable(a.pointer), pb = UncheckedSendable(b.pointer)
    Compute.forEachChunk(a.count) { r in
        let x = pa.value, y = pb.value
        for i in r { x[i] += y[i] }
    }
}

/// Packed weights (and folded biases) of the layers, kept across the eval-mode passes of one
/// ``UNet/withFrozenWeights(_:)``, inside which the weights do not change: a sliding window then packs
/// each layer's weights once per volume instead of once per window. One thread at a time (the network's).
final class PackedWeightCache {
    struct Entry {
        var packed: [DirectConv.PackedWeights]
        /// The folded bias (batch norm folded in), or nil: the layer's own.
        var bias: FloatBuffer?
        var folded = false
    }
    private var entries: [ObjectIdentifier: Entry] = [:]

    func entry(_ layer: AnyObject, folded: Bool, _ make: () -> Entry) -> Entry {
        let key = ObjectIdentifier(layer)
        if let e = entries[key], e.folded == folded { return e }
        var e = make()
        e.folded = folded
        entries[key] = e
        return e
    }
}
