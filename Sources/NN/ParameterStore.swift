import Tensor

/// One named block of a ``ParameterStore``: a parameter or a float buffer (batch-norm running
/// statistics), stored contiguously at `offset..<offset + count` of the store's flat vector.
public struct ParameterBlock: Sendable, Hashable {
    /// Whether the optimiser updates the block.
    public enum Kind: String, Sendable, Hashable {
        /// A trainable weight (has a gradient).
        case parameter
        /// A float buffer updated by the forward pass in training (running mean / variance).
        case buffer
    }
    /// The PyTorch `state_dict` key, e.g. `model.0.conv.unit0.conv.weight`.
    public let name: String
    /// The tensor shape in PyTorch's layout (`[out, in, 3, 3, 3]` for Conv3d weights,
    /// `[in, out, 3, 3, 3]` for ConvTranspose3d weights).
    public let shape: [Int]
    /// First element in the flat vector.
    public let offset: Int
    /// Number of elements.
    public let count: Int
    /// Parameter or buffer.
    public let kind: Kind
    /// The block's range in the flat vector.
    public var range: Range<Int> { offset..<(offset + count) }
}

/// An integer buffer kept outside the float vector (`num_batches_tracked`, int64 in PyTorch).
public struct IntegerBuffer: Sendable, Hashable {
    /// The `state_dict` key.
    public let name: String
    /// The value.
    public var value: Int64
}

/// All Float32 parameters and buffers of a model as an ordered list of named blocks over one
/// contiguous vector (in `state_dict` order), plus the gradient vector with the same layout and
/// the integer buffers.
///
/// Aggregation selects blocks by name (``blocks(prefix:)``, ``blocks(containing:)``) and moves
/// their values as one flat `[Float]` (``flat(_:)``, ``setFlat(_:_:)``) without touching layers.
public final class ParameterStore {
    /// Blocks in `state_dict` order (integer buffers excluded).
    public let blocks: [ParameterBlock]
    /// Total number of floats.
    public let count: Int
    /// Integer buffers in `state_dict` order.
    public internal(set) var integerBuffers: [IntegerBuffer]
    /// Every `state_dict` key in order: `.float(i)` indexes ``blocks``, `.integer(i)` ``integerBuffers``.
    let order: [Entry]
    /// The flat values.
    package let values: FloatBuffer
    /// The flat gradients (zero for buffers).
    package let gradients: FloatBuffer
    private let index: [String: Int]

    enum Entry { case float(Int), integer(Int) }

    init(blocks: [ParameterBlock], initial: [Float], integerBuffers: [IntegerBuffer], order: [Entry]) {
        self.blocks = blocks
        self.count = initial.count
        self.integerBuffers = integerBuffers
        self.order = order
        values = FloatBuffer(initial)
        gradients = FloatBuffer(count: initial.count, zeroed: true)
        var idx: [String: Int] = [:]
        for (i, b) in blocks.enumerated() { idx[b.name] = i }
        index = idx
    }

    /// Number of trainable floats (blocks of kind `.parameter`).
    public var parameterCount: Int { blocks.filter { $0.kind == .parameter }.reduce(0) { $0 + $1.count } }

    /// The block with this `state_dict` key.
    public func block(named name: String) -> ParameterBlock? { index[name].map { blocks[$0] } }

    /// Blocks whose name starts with `prefix` (e.g. `"model.2."`, the task head).
    public func blocks(prefix: String) -> [ParameterBlock] { blocks.filter { $0.name.hasPrefix(prefix) } }

    /// Blocks whose name contains `substring` (e.g. `".adn.N."`, every normalisation).
    public func blocks(containing substring: String) -> [ParameterBlock] { blocks.filter { $0.name.contains(substring) } }

    /// All values as one vector (length ``count``).
    public func flat() -> [Float] { values.array }

    /// Replaces all values. - Precondition: `v.count == count`.
    public func setFlat(_ v: [Float]) {
        precondition(v.count == count, "ParameterStore.setFlat: \(v.count) values for \(count) floats")
        v.withUnsafeBufferPointer { values.pointer.update(from: $0.baseAddress!, count: count) }
    }

    /// The values of `blocks`, concatenated in the given order.
    public func flat(_ blocks: [ParameterBlock]) -> [Float] {
        var out = [Float]()
        out.reserveCapacity(blocks.reduce(0) { $0 + $1.count })
        for b in blocks { out += UnsafeBufferPointer(start: values.pointer + b.offset, count: b.count) }
        return out
    }

    /// Writes `v` into `blocks` (concatenated in the given order).
    /// - Precondition: `v.count` equals the blocks' total size.
    public func setFlat(_ v: [Float], _ blocks: [ParameterBlock]) {
        let total = blocks.reduce(0) { $0 + $1.count }
        precondition(v.count == total, "ParameterStore.setFlat: \(v.count) values for blocks of \(total) floats")
        var at = 0
        v.withUnsafeBufferPointer { p in
            for b in blocks {
                (values.pointer + b.offset).update(from: p.baseAddress! + at, count: b.count)
                at += b.count
            }
        }
    }

    /// The gradients of `blocks` (all blocks when nil), concatenated; zero for buffers.
    public func flatGradients(_ blocks: [ParameterBlock]? = nil) -> [Float] {
        guard let blocks else { return gradients.array }
        var out = [Float]()
        for b in blocks { out += UnsafeBufferPointer(start: gradients.pointer + b.offset, count: b.count) }
        return out
    }

    /// A block's values as a tensor of its shape; setting replaces them.
    /// - Precondition: the name exists; on set, the shape matches.
    public subscript(name: String) -> Tensor {
        get {
            guard let b = block(named: name) else { preconditionFailure("ParameterStore: no block named \(name)") }
            return Tensor(shape: b.shape, scalars: flat([b]))
        }
        set {
            guard let b = block(named: name) else { preconditionFailure("ParameterStore: no block named \(name)") }
            precondition(newValue.shape == b.shape, "ParameterStore: \(name) has shape \(b.shape), got \(newValue.shape)")
            setFlat(newValue.scalars, [b])
        }
    }

    /// Copies all values and integer buffers from a store of the same layout (e.g. a global
    /// model into a site's model). - Precondition: identical block names and shapes.
    public func copy(from other: ParameterStore) {
        precondition(other.blocks.map(\.name) == blocks.map(\.name) && other.blocks.map(\.shape) == blocks.map(\.shape),
                     "ParameterStore.copy: layouts differ")
        values.pointer.update(from: other.values.pointer, count: count)
        integerBuffers = other.integerBuffers
    }

    /// The L2 norm of the parameters' gradients (buffers excluded); when it exceeds `maxNorm`, every gradient
    /// is scaled by `maxNorm / norm` (PyTorch's `clip_grad_norm_`, without its 1e-6 guard). Returns the norm
    /// before clipping.
    @discardableResult
    public func clipGradientNorm(_ maxNorm: Float?) -> Float {
        var sq = 0.0
        let g = gradients.pointer
        for b in blocks where b.kind == .parameter {
            for i in b.range { sq += Double(g[i]) * Double(g[i]) }
        }
        let norm = sq.squareRoot()
        if let maxNorm, norm > Double(maxNorm) {
            let s = Float(Double(maxNorm) / norm)
            for b in blocks where b.kind == .parameter {
                for i in b.range { g[i] *= s }
            }
        }
        return Float(norm)
    }

    /// Sets every gradient to zero.
    public func zeroGradients() { gradients.zero() }
}

/// Collects blocks while a model's layers are built; each layer keeps the offsets it gets.
final class StoreBuilder {
    private(set) var blocks: [ParameterBlock] = []
    private(set) var initial: [Float] = []
    private(set) var integers: [IntegerBuffer] = []
    private(set) var order: [ParameterStore.Entry] = []
    var rng: SplitMix64

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    /// Adds a float block and returns its offset.
    func add(_ name: String, shape: [Int], kind: ParameterBlock.Kind = .parameter, values: [Float]) -> Int {
        precondition(values.count == shape.reduce(1, *), "StoreBuilder: \(name) shape \(shape) vs \(values.count) values")
        let off = initial.count
        order.append(.float(blocks.count))
        blocks.append(ParameterBlock(name: name, shape: shape, offset: off, count: values.count, kind: kind))
        initial += values
        return off
    }

    /// Adds a float block filled uniformly in `-bound...bound`.
    func uniform(_ name: String, shape: [Int], bound: Float) -> Int {
        let n = shape.reduce(1, *)
        var v = [Float](repeating: 0, count: n)
        for i in 0..<n { v[i] = (rng.nextUnit() * 2 - 1) * bound }
        return add(name, shape: shape, values: v)
    }

    /// Adds an integer buffer and returns its index.
    func addInteger(_ name: String, value: Int64 = 0) -> Int {
        order.append(.integer(integers.count))
        integers.append(IntegerBuffer(name: name, value: value))
        return integers.count - 1
    }

    func build() -> ParameterStore {
        ParameterStore(blocks: blocks, initial: initial, integerBuffers: integers, order: order)
    }
}
