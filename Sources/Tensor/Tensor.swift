/// A dense, contiguous, row-major `Float` tensor.
///
/// Layout: the last dimension varies fastest. Volumes for the networks are 5-D `NCDHW`
/// (batch, channels, depth, height, width); a single image volume is often `[1, 1, D, H, W]`.
/// Value semantics: copies share storage until one is written (the storage is a Swift array).
public struct Tensor: Sendable, Equatable, CustomStringConvertible {
    /// Extent of each dimension, outermost first.
    public private(set) var shape: [Int]
    /// The elements in row-major order; `scalars.count == shape.reduce(1, *)`.
    public var scalars: [Float]

    /// Creates a tensor from its shape and row-major elements.
    /// - Precondition: every extent is non-negative and `scalars.count` equals the product of `shape`.
    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative extent in shape \(shape)")
        let n = shape.reduce(1, *)
        precondition(scalars.count == n,
                     "Tensor: shape \(shape) needs \(n) elements, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor of the given shape filled with `value`.
    public init(repeating value: Float, shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative extent in shape \(shape)")
        self.init(shape: shape, scalars: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// A tensor of zeros with the given shape.
    public init(zeros shape: [Int]) { self.init(repeating: 0, shape: shape) }

    /// Number of elements.
    public var count: Int { scalars.count }
    /// Number of dimensions.
    public var rank: Int { shape.count }

    /// Row-major strides in elements, outermost first.
    public var strides: [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) { s[i] = acc; acc *= shape[i] }
        return s
    }

    /// The same elements viewed with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count,
                     "Tensor.reshaped: cannot view shape \(shape) as \(newShape)")
        return Tensor(shape: newShape, scalars: scalars)
    }

    /// Element access by a full multi-index (bounds are checked).
    public subscript(_ index: Int...) -> Float {
        get { scalars[offset(index)] }
        set { scalars[offset(index)] = newValue }
    }

    /// Row-major offset of a full multi-index.
    public func offset(_ index: [Int]) -> Int {
        precondition(index.count == shape.count,
                     "Tensor: index \(index) has \(index.count) dimensions, shape \(shape) has \(shape.count)")
        var off = 0
        for (i, (x, n)) in zip(index, shape).enumerated() {
            precondition(x >= 0 && x < n, "Tensor: index \(x) out of range 0..<\(n) in dimension \(i) of shape \(shape)")
            off = off * n + x
        }
        return off
    }

    public var description: String { "Tensor(shape: \(shape))" }
}
