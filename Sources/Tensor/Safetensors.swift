import Foundation

/// Why a safetensors file could not be read; every case names the file (or the caller's label
/// for a byte buffer) and the problem.
public enum SafetensorsError: Error, Equatable, CustomStringConvertible {
    /// Fewer than 8 bytes: no header length.
    case truncated(file: String, size: Int)
    /// The header length does not fit in the file.
    case headerLengthOutOfBounds(file: String, headerLength: UInt64, fileSize: Int)
    /// The header is not a UTF-8 JSON object.
    case invalidHeader(file: String, detail: String)
    /// A tensor entry is malformed (missing or ill-typed dtype, shape or data_offsets).
    case invalidEntry(file: String, name: String, detail: String)
    /// A dtype other than F32 or I64.
    case unsupportedDType(file: String, name: String, dtype: String)
    /// `data_offsets` fall outside the data section, or disagree with dtype and shape.
    case badOffsets(file: String, name: String, detail: String)
    /// A tensor asked for is absent.
    case missingTensor(file: String, name: String)
    /// A tensor has another dtype or shape than expected.
    case mismatch(file: String, name: String, detail: String)
    /// Reading or writing the file failed.
    case io(file: String, detail: String)

    public var description: String {
        switch self {
        case let .truncated(f, n): return "\(f): safetensors file of \(n) bytes has no 8-byte header length"
        case let .headerLengthOutOfBounds(f, h, n): return "\(f): header length \(h) exceeds file size \(n) - 8"
        case let .invalidHeader(f, d): return "\(f): invalid safetensors header: \(d)"
        case let .invalidEntry(f, t, d): return "\(f): tensor '\(t)': \(d)"
        case let .unsupportedDType(f, t, d): return "\(f): tensor '\(t)' has unsupported dtype \(d) (F32 and I64 are supported)"
        case let .badOffsets(f, t, d): return "\(f): tensor '\(t)': \(d)"
        case let .missingTensor(f, t): return "\(f): no tensor named '\(t)'"
        case let .mismatch(f, t, d): return "\(f): tensor '\(t)': \(d)"
        case let .io(f, d): return "\(f): \(d)"
        }
    }
}

/// One tensor of a safetensors file: 32-bit floats or 64-bit integers, with its shape.
public enum SafetensorsValue: Sendable, Equatable {
    /// `F32` elements, row-major.
    case f32(shape: [Int], values: [Float])
    /// `I64` elements, row-major.
    case i64(shape: [Int], values: [Int64])

    /// Extents, outermost first (empty for a scalar).
    public var shape: [Int] {
        switch self { case let .f32(s, _), let .i64(s, _): return s }
    }
    /// The dtype name as written in the header.
    public var dtype: String {
        switch self { case .f32: return "F32"; case .i64: return "I64" }
    }
    /// The float elements as a ``Tensor`` (nil for I64; a scalar becomes shape `[]`).
    public var tensor: Tensor? {
        if case let .f32(s, v) = self { return Tensor(shape: s, scalars: v) }
        return nil
    }
}

/// The contents of a safetensors file (8-byte little-endian header length, JSON header, raw
/// little-endian data): named tensors in data order plus the optional `__metadata__` string map.
public struct SafetensorsFile: Sendable, Equatable {
    /// Tensor names in the order of their data.
    public var names: [String]
    /// Tensors by name.
    public var tensors: [String: SafetensorsValue]
    /// The `__metadata__` map (empty when absent).
    public var metadata: [String: String]

    /// An empty file.
    public init(metadata: [String: String] = [:]) {
        names = []; tensors = [:]; self.metadata = metadata
    }

    /// Appends (or replaces) a tensor.
    public mutating func set(_ name: String, _ value: SafetensorsValue) {
        if tensors[name] == nil { names.append(name) }
        tensors[name] = value
    }

    /// Decodes and validates a whole file held in memory; `file` names it in errors.
    /// Never traps on malformed input: every problem is a thrown ``SafetensorsError``.
    public static func decode(_ bytes: [UInt8], file: String = "<bytes>") throws(SafetensorsError) -> SafetensorsFile {
        guard bytes.count >= 8 else { throw .truncated(file: file, size: bytes.count) }
        var len: UInt64 = 0
        for i in 0..<8 { len |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard len <= UInt64(bytes.count - 8) else {
            throw .headerLengthOutOfBounds(file: file, headerLength: len, fileSize: bytes.count)
        }
        let headerEnd = 8 + Int(len)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd]), options: [])
        } catch {
            throw .invalidHeader(file: file, detail: "not JSON (\(error.localizedDescription))")
        }
        guard let header = json as? [String: Any] else {
            throw .invalidHeader(file: file, detail: "top level is not an object")
        }
        let dataSize = bytes.count - headerEnd
        var out = SafetensorsFile()
        var spans: [(begin: Int, end: Int, name: String)] = []
        for (name, entry) in header {
            if name == "__metadata__" {
                guard let m = entry as? [String: Any] else {
                    throw .invalidHeader(file: file, detail: "__metadata__ is not an object")
                }
                for (k, v) in m {
                    guard let s = v as? String else {
                        throw .invalidHeader(file: file, detail: "__metadata__ value of '\(k)' is not a string")
                    }
                    out.metadata[k] = s
                }
                continue
            }
            guard let e = entry as? [String: Any] else { throw .invalidEntry(file: file, name: name, detail: "entry is not an object") }
            guard let dtype = e["dtype"] as? String else { throw .invalidEntry(file: file, name: name, detail: "missing dtype") }
            guard let shapeAny = e["shape"] as? [Any], let offAny = e["data_offsets"] as? [Any] else {
                throw .invalidEntry(file: file, name: name, detail: "missing shape or data_offsets")
            }
            let shape = try shapeAny.map { (v: Any) throws(SafetensorsError) -> Int in
                guard let i = exactInt(v), i >= 0 else { throw .invalidEntry(file: file, name: name, detail: "shape \(shapeAny) is not a list of non-negative integers") }
                return i
            }
            guard offAny.count == 2, let begin = exactInt(offAny[0]), let end = exactInt(offAny[1]) else {
                throw .invalidEntry(file: file, name: name, detail: "data_offsets \(offAny) is not two integers")
            }
            let width: Int
            switch dtype {
            case "F32": width = 4
            case "I64": width = 8
            default: throw .unsupportedDType(file: file, name: name, dtype: dtype)
            }
            var elements = 1
            for d in shape {
                let (p, o) = elements.multipliedReportingOverflow(by: d)
                guard !o, p <= dataSize else { throw .badOffsets(file: file, name: name, detail: "shape \(shape) exceeds the data section (\(dataSize) bytes)") }
                elements = p
            }
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw .badOffsets(file: file, name: name, detail: "data_offsets [\(begin), \(end)] outside data section of \(dataSize) bytes")
            }
            guard end - begin == elements * width else {
                throw .badOffsets(file: file, name: name, detail: "\(end - begin) bytes for \(dtype) shape \(shape) (needs \(elements * width))")
            }
            let base = headerEnd + begin
            if width == 4 {
                out.tensors[name] = .f32(shape: shape, values: littleEndian(bytes, base, elements, UInt32.self).map(Float.init(bitPattern:)))
            } else {
                out.tensors[name] = .i64(shape: shape, values: littleEndian(bytes, base, elements, UInt64.self).map(Int64.init(bitPattern:)))
            }
            spans.append((begin, end, name))
        }
        spans.sort { ($0.begin, $0.name) < ($1.begin, $1.name) }
        for (a, b) in zip(spans, spans.dropFirst()) where b.begin < a.end {
            throw .badOffsets(file: file, name: b.name, detail: "data overlaps tensor '\(a.name)'")
        }
        out.names = spans.map(\.name)
        return out
    }

    /// Encodes as safetensors bytes (header padded with spaces to a multiple of 8).
    public func encode() -> [UInt8] {
        var header = "{"
        var first = true
        func add(_ s: String) { if !first { header += "," }; first = false; header += s }
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            add("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
        }
        var offset = 0
        for name in names {
            let v = tensors[name]!
            let bytes: Int
            switch v { case let .f32(_, x): bytes = 4 * x.count; case let .i64(_, x): bytes = 8 * x.count }
            add("\(jsonString(name)):{\"dtype\":\"\(v.dtype)\",\"shape\":[\(v.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        header += "}"
        var h = Array(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + h.count + offset)
        let n = UInt64(h.count)
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: n >> (8 * UInt64(i)))) }
        out += h
        for name in names {
            switch tensors[name]! {
            case let .f32(_, x):
                for f in x { let u = f.bitPattern; for b in 0..<4 { out.append(UInt8(truncatingIfNeeded: u >> (8 * UInt32(b)))) } }
            case let .i64(_, x):
                for i in x { let u = UInt64(bitPattern: i); for b in 0..<8 { out.append(UInt8(truncatingIfNeeded: u >> (8 * UInt64(b)))) } }
            }
        }
        return out
    }

    /// Reads and validates a file.
    public static func read(path: String) throws(SafetensorsError) -> SafetensorsFile {
        guard let data = FileManager.default.contents(atPath: path) else { throw .io(file: path, detail: "cannot read file") }
        return try decode([UInt8](data), file: path)
    }

    /// Writes the file atomically.
    public func write(path: String) throws(SafetensorsError) {
        do { try AtomicFile.write(path: path, contents: Data(encode())) }
        catch { throw .io(file: path, detail: "cannot write: \(error.problem)") }
    }
}

/// `count` little-endian unsigned integers starting at byte `base` (bounds checked by the caller).
private func littleEndian<U: FixedWidthInteger & UnsignedInteger>(_ bytes: [UInt8], _ base: Int, _ count: Int, _: U.Type) -> [U] {
    let w = U.bitWidth / 8
    var v = [U](repeating: 0, count: count)
    for i in 0..<count {
        var u: U = 0
        for b in 0..<w { u |= U(bytes[base + w * i + b]) << (8 * b) }
        v[i] = u
    }
    return v
}

/// An integer JSON number, or nil for anything else (fractions, booleans, strings, huge values).
private func exactInt(_ v: Any) -> Int? {
    guard let n = v as? NSNumber else { return nil }
    switch String(cString: n.objCType) {
    case "c", "C", "B", "d", "f": return nil   // booleans and non-integral numbers
    default: return v as? Int
    }
}

/// A JSON string literal.
private func jsonString(_ s: String) -> String {
    var r = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": r += "\\\""
        case "\\": r += "\\\\"
        case "\n": r += "\\n"
        case "\r": r += "\\r"
        case "\t": r += "\\t"
        default:
            if u.value < 0x20 { r += String(format: "\\u%04x", u.value) } else { r.unicodeScalars.append(u) }
        }
    }
    return r + "\""
}
