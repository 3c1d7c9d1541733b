import Tensor

/// Why weights could not be loaded into a model.
public enum StateDictError: Error, Equatable, CustomStringConvertible {
    /// The file has no tensor for this key.
    case missing(file: String, key: String)
    /// The tensor has another dtype or shape than the model's block.
    case mismatch(file: String, key: String, detail: String)
    /// The file could not be read or decoded.
    case file(SafetensorsError)

    public var description: String {
        switch self {
        case let .missing(f, k): return "\(f): missing state_dict key '\(k)'"
        case let .mismatch(f, k, d): return "\(f): state_dict key '\(k)': \(d)"
        case let .file(e): return e.description
        }
    }
}

extension ParameterStore {
    /// The `state_dict` as safetensors content: F32 blocks and I64 counters under their MONAI
    /// names (each prefixed by `prefix`), in `state_dict` order, with optional metadata.
    public func stateDict(prefix: String = "", metadata: [String: String] = [:]) -> SafetensorsFile {
        var f = SafetensorsFile(metadata: metadata)
        for e in order {
            switch e {
            case let .float(i):
                let b = blocks[i]
                f.set(prefix + b.name, .f32(shape: b.shape, values: flat([b])))
            case let .integer(i):
                f.set(prefix + integerBuffers[i].name, .i64(shape: [], values: [integerBuffers[i].value]))
            }
        }
        return f
    }

    /// Loads every block and counter from `file` (keys `prefix + name`); nothing changes unless
    /// all keys are present with matching dtype and shape. Extra keys in the file are ignored.
    public func load(_ file: SafetensorsFile, prefix: String = "", fileName: String = "<state_dict>") throws(StateDictError) {
        var floats: [(ParameterBlock, [Float])] = []
        for b in blocks {
            let key = prefix + b.name
            guard let v = file.tensors[key] else { throw .missing(file: fileName, key: key) }
            guard case let .f32(shape, values) = v else {
                throw .mismatch(file: fileName, key: key, detail: "dtype \(v.dtype), expected F32")
            }
            guard shape == b.shape else {
                throw .mismatch(file: fileName, key: key, detail: "shape \(shape), expected \(b.shape)")
            }
            floats.append((b, values))
        }
        var ints: [Int64] = []
        for ib in integerBuffers {
            let key = prefix + ib.name
            guard let v = file.tensors[key] else { throw .missing(file: fileName, key: key) }
            guard case let .i64(shape, values) = v, values.count == 1, shape.reduce(1, *) == 1 else {
                throw .mismatch(file: fileName, key: key, detail: "expected an I64 scalar, got \(v.dtype) \(v.shape)")
            }
            ints.append(values[0])
        }
        for (b, v) in floats { setFlat(v, [b]) }
        for i in ints.indices { integerBuffers[i].value = ints[i] }
    }
}

extension UNet {
    /// Writes the weights as safetensors with MONAI's names: loads in PyTorch with
    /// `UNet(...).load_state_dict(safetensors.torch.load_file(path))`.
    public func save(path: String, metadata: [String: String] = [:]) throws(SafetensorsError) {
        try parameters.stateDict(metadata: metadata).write(path: path)
    }

    /// Reads weights saved by ``save(path:metadata:)`` or by `safetensors.torch.save_file(model.state_dict(), path)`.
    public func load(path: String, prefix: String = "") throws(StateDictError) {
        let f: SafetensorsFile
        do { f = try SafetensorsFile.read(path: path) } catch { throw .file(error) }
        try parameters.load(f, prefix: prefix, fileName: path)
    }

    /// Loads weights from decoded safetensors content (keys `prefix + name`).
    public func load(_ file: SafetensorsFile, prefix: String = "") throws(StateDictError) {
        try parameters.load(file, prefix: prefix)
    }
}
