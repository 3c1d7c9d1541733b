import Foundation
import NN
import Tensor

/// The federation's global model as one flat Float32 vector over named tensors, for either strategy.
///
/// - `single`: one MONAI `UNet` with `1 + organs` output classes; tensor names are MONAI's state_dict names.
/// - `heads` (the SegViz paper): a shared core (every tensor outside `model.2.`) and, per organ, a binary
///   task head stored as `heads.<organ>.model.2.*`; organ `o`'s network is the core plus its head.
///
/// Integer buffers (`num_batches_tracked`) are carried from the template network and not aggregated.
///
/// A value type: copies are independent (the values array is copy-on-write), so a model handed to a trainer,
/// an evaluation or another thread cannot change under its other holders.
public struct FederatedModel: Sendable {
    /// One tensor of the flat vector.
    public struct Entry: Sendable, Equatable {
        /// Name in the artifact (MONAI name, or `heads.<organ>.` + MONAI name).
        public let name: String
        /// Tensor shape.
        public let shape: [Int]
        /// Offset in ``values``.
        public let offset: Int
        /// Element count.
        public let count: Int
        /// The organ whose head this is (`heads` strategy), nil for shared tensors.
        public let organ: String?
        /// The MONAI state_dict name inside the organ's network.
        public let networkName: String
        /// Range in ``values``.
        public var range: Range<Int> { offset..<(offset + count) }
    }

    /// Aggregation strategy.
    public let strategy: FederationFile.Strategy
    /// Organ names, label order (label i+1 is organs[i]).
    public let organs: [String]
    /// Configuration of each materialised network.
    public let config: UNetConfig
    /// Tensors in vector order.
    public let entries: [Entry]
    /// The flat vector.
    public var values: [Float]
    /// `num_batches_tracked`-style counters (name, value), carried as I64.
    public var integerBuffers: [(String, Int64)]

    /// A freshly initialised model (PyTorch default initialisation from `seed`).
    public init(strategy: FederationFile.Strategy, organs: [String], network: FederationFile.NetworkSpec, seed: UInt64) {
        self.strategy = strategy
        self.organs = organs
        let norm: Normalization = network.norm == "instance" ? .instance : .batch
        config = UNetConfig(outChannels: strategy == .single ? organs.count + 1 : 2, channels: network.channels,
                            strides: network.strides, numResUnits: network.numResUnits, norm: norm)
        let template = UNet(config, seed: seed)
        var entries: [Entry] = []
        var values: [Float] = []
        let flat = template.parameters.flat()
        func add(_ b: ParameterBlock, name: String, organ: String?, from source: [Float]) {
            entries.append(Entry(name: name, shape: b.shape, offset: values.count, count: b.count, organ: organ,
                                 networkName: b.name))
            values += source[b.range]
        }
        let head = UNetConfig.taskHeadPrefix
        switch strategy {
        case .single:
            for b in template.parameters.blocks { add(b, name: b.name, organ: nil, from: flat) }
        case .heads:
            for b in template.parameters.blocks where !b.name.hasPrefix(head) { add(b, name: b.name, organ: nil, from: flat) }
            for (i, organ) in organs.enumerated() {
                // Each head gets its own initial draw so heads start different.
                let h = i == 0 ? template : UNet(config, seed: seed &+ UInt64(i) &* 0x9E37_79B9)
                let hf = h.parameters.flat()
                for b in h.parameters.blocks where b.name.hasPrefix(head) {
                    add(b, name: "heads.\(organ).\(b.name)", organ: organ, from: hf)
                }
            }
        }
        self.entries = entries
        self.values = values
        integerBuffers = template.parameters.integerBuffers.map { ($0.name, $0.value) }
    }

    private init(copying other: FederatedModel, values: [Float]) {
        strategy = other.strategy
        organs = other.organs
        config = other.config
        entries = other.entries
        self.values = values
        integerBuffers = other.integerBuffers
    }

    /// The same model with other values (same length).
    public func copy(values: [Float]) -> FederatedModel {
        precondition(values.count == self.values.count, "FederatedModel.copy: \(values.count) values for \(self.values.count)")
        return FederatedModel(copying: self, values: values)
    }

    /// Entries that make up organ `organ`'s network (`heads`), or every entry (`single`, organ ignored).
    public func entries(forOrgan organ: String?) -> [Entry] {
        switch strategy {
        case .single: return entries
        case .heads: return entries.filter { $0.organ == nil || $0.organ == organ }
        }
    }

    /// A network holding the current values (for `heads`, the core plus `organ`'s head).
    public func network(organ: String? = nil) -> UNet {
        let net = UNet(config, seed: 0)
        let store = net.parameters
        var flat = store.flat()
        for e in entries(forOrgan: organ) {
            guard let b = store.block(named: e.networkName) else { continue }
            flat.replaceSubrange(b.range, with: values[e.range])
        }
        store.setFlat(flat)
        return net
    }

    /// Copies a trained network's tensors back into the vector (for `heads`, into `organ`'s head and the core).
    public mutating func absorb(_ net: UNet, organ: String? = nil) {
        let store = net.parameters
        let flat = store.flat()
        for e in entries(forOrgan: organ) {
            guard let b = store.block(named: e.networkName) else { continue }
            values.replaceSubrange(e.range, with: flat[b.range])
        }
    }

    /// Entry indices whose names contain any of `patterns` (e.g. FedBN's `.adn.N.`).
    public func entryIndices(matching patterns: [String]) -> [Int] {
        entries.indices.filter { i in patterns.contains { entries[i].name.contains($0) } }
    }

    /// The model as a safetensors file (F32 tensors by artifact name, I64 counters, `metadata`).
    public func safetensors(metadata: [String: String]) -> SafetensorsFile {
        var f = SafetensorsFile(metadata: metadata)
        for e in entries {
            f.set(e.name, .f32(shape: e.shape, values: Array(values[e.range])))
        }
        for (name, v) in integerBuffers {
            let names: [String] = strategy == .heads && name.hasPrefix(UNetConfig.taskHeadPrefix)
                ? organs.map { "heads.\($0).\(name)" } : [name]
            for n in names { f.set(n, .i64(shape: [], values: [v])) }
        }
        return f
    }

    /// One network as a MONAI `UNet` state dict (MONAI's names only, F32 tensors and I64 counters): for `heads`,
    /// the shared core plus `organ`'s head (a 2-class network: background, organ); for `single`, the whole model.
    /// `UNet(...).load_state_dict(..., strict=True)` accepts it.
    public func monaiStateDict(organ: String? = nil, metadata: [String: String]) -> SafetensorsFile {
        precondition(strategy == .single || organ.map(organs.contains) == true,
                     "FederatedModel.monaiStateDict: a heads model needs one of \(organs), got \(organ ?? "nil")")
        var f = SafetensorsFile(metadata: metadata)
        for e in entries(forOrgan: organ) {
            f.set(e.networkName, .f32(shape: e.shape, values: Array(values[e.range])))
        }
        for (name, v) in integerBuffers { f.set(name, .i64(shape: [], values: [v])) }
        return f
    }

    /// Loads values from a safetensors file written by ``safetensors(metadata:)``; every entry must be
    /// present with its shape.
    public mutating func load(_ file: SafetensorsFile, path: String) throws {
        var v = values
        for e in entries {
            guard let t = file.tensors[e.name] else {
                throw FederationError.missingTensor(path: path, name: e.name)
            }
            guard t.shape == e.shape, let tensor = t.tensor else {
                throw FederationError.tensorMismatch(path: path, name: e.name, shape: t.shape, dtype: t.dtype, expected: e.shape)
            }
            v.replaceSubrange(e.range, with: tensor.scalars)
        }
        values = v
    }
}
