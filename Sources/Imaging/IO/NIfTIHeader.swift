import Foundation

/// Why a NIfTI file could not be read or written. Every case names the file; header problems also
/// name the offending field.
public enum NIfTIError: Error, Equatable, CustomStringConvertible {
    /// The file does not exist or cannot be opened.
    case cannotOpen(file: String, reason: String)
    /// The name does not end in `.nii` or `.nii.gz`.
    case unsupportedExtension(file: String)
    /// The gzip stream is corrupt or ends early.
    case corruptCompression(file: String)
    /// Fewer bytes than the header needs, or than `vox_offset` plus the voxel data need.
    case truncated(file: String, field: String, needed: Int, available: Int)
    /// A header field holds a value this reader refuses (the field is named as in nifti1.h).
    case invalidHeader(file: String, field: String, reason: String)
    /// libnifti failed after the header passed validation.
    case library(file: String, reason: String)
    /// Writing the file failed.
    case writeFailed(file: String, reason: String)

    /// The file the error is about.
    public var file: String {
        switch self {
        case .cannotOpen(let f, _), .unsupportedExtension(let f), .corruptCompression(let f),
             .truncated(let f, _, _, _), .invalidHeader(let f, _, _), .library(let f, _), .writeFailed(let f, _): f
        }
    }

    public var description: String {
        switch self {
        case .cannotOpen(let f, let r): "\(f): cannot open: \(r)"
        case .unsupportedExtension(let f): "\(f): not a .nii or .nii.gz file name"
        case .corruptCompression(let f): "\(f): corrupt or truncated gzip stream"
        case .truncated(let f, let field, let n, let a): "\(f): truncated: \(field) needs \(n) bytes, file has \(a)"
        case .invalidHeader(let f, let field, let r): "\(f): invalid NIfTI header field \(field): \(r)"
        case .library(let f, let r): "\(f): libnifti: \(r)"
        case .writeFailed(let f, let r): "\(f): write failed: \(r)"
        }
    }
}

/// NIfTI-1 voxel datatypes this module reads and writes (codes from nifti1.h).
public enum NIfTIDatatype: Int, Sendable, CaseIterable {
    /// DT_UINT8
    case uint8 = 2
    /// DT_INT16
    case int16 = 4
    /// DT_INT32
    case int32 = 8
    /// DT_FLOAT32
    case float32 = 16
    /// DT_FLOAT64
    case float64 = 64
    /// DT_INT8
    case int8 = 256
    /// DT_UINT16
    case uint16 = 512

    /// Bytes per voxel.
    public var bytes: Int {
        switch self {
        case .uint8, .int8: 1
        case .int16, .uint16: 2
        case .int32, .float32: 4
        case .float64: 8
        }
    }
}

/// The fields of a validated single-file NIfTI-1 header (`n+1` magic) that the reader relies on.
public struct NIfTIHeader: Sendable, Equatable {
    /// Voxel counts along i, j, k (trailing dims, if any, are all 1).
    public var dims: [Int]
    /// Voxel datatype.
    public var datatype: NIfTIDatatype
    /// Byte offset of the voxel data.
    public var voxOffset: Int
    /// Voxel sizes pixdim[1...3].
    public var pixdim: [Double]
    /// Whether the file is big-endian.
    public var bigEndian: Bool

    /// Largest voxel count accepted (2^30), so hostile dims cannot exhaust memory.
    public static let maxVoxels = 1 << 30

    /// Validates the decompressed bytes of a `.nii` file and returns its header.
    ///
    /// This is the entry point for fuzzing: it never traps, and checks sizeof_hdr, magic, dim,
    /// datatype/bitpix, pixdim, vox_offset, scl_slope/scl_inter, the qform/sform fields and the
    /// extension chain, and that `vox_offset + voxels * bytes` fits in `bytes`.
    /// - Parameters:
    ///   - bytes: the whole file, decompressed.
    ///   - file: the name to put in errors.
    public static func decode(_ bytes: [UInt8], file: String) throws(NIfTIError) -> NIfTIHeader {
        guard bytes.count >= 348 else {
            throw .truncated(file: file, field: "sizeof_hdr", needed: 348, available: bytes.count)
        }
        let rawSize = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
        let big: Bool
        if rawSize == 348 { big = false } else if rawSize.byteSwapped == 348 { big = true } else {
            throw .invalidHeader(file: file, field: "sizeof_hdr", reason: "\(rawSize) (must be 348)")
        }
        let r = ByteReader(bytes: bytes, bigEndian: big)
        guard bytes[344] == 0x6E, bytes[345] == 0x2B, bytes[346] == 0x31, bytes[347] == 0 else {
            let shown = bytes[344..<348].map { (0x20...0x7E).contains($0) ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined()
            throw .invalidHeader(file: file, field: "magic", reason: "\"\(shown)\" (must be \"n+1\" for a single-file NIfTI-1)")
        }
        let ndim = Int(r.int16(40))
        guard (1...7).contains(ndim) else { throw .invalidHeader(file: file, field: "dim[0]", reason: "\(ndim) (must be 1...7)") }
        var dim = [Int](repeating: 1, count: 7)
        for d in 0..<ndim {
            let v = Int(r.int16(42 + 2 * d))
            guard v >= 1 else { throw .invalidHeader(file: file, field: "dim[\(d + 1)]", reason: "\(v) (must be at least 1)") }
            dim[d] = v
        }
        if let extra = (3..<7).first(where: { dim[$0] != 1 }) {
            throw .invalidHeader(file: file, field: "dim[\(extra + 1)]", reason: "\(dim[extra]) (only 3-D volumes are supported)")
        }
        let code = Int(r.int16(70))
        guard let dt = NIfTIDatatype(rawValue: code) else {
            throw .invalidHeader(file: file, field: "datatype", reason: "\(code) (supported: uint8, int8, int16, uint16, int32, float32, float64)")
        }
        let bitpix = Int(r.int16(72))
        guard bitpix == dt.bytes * 8 else {
            throw .invalidHeader(file: file, field: "bitpix", reason: "\(bitpix) (datatype \(dt) needs \(dt.bytes * 8))")
        }
        var pixdim = [Double]()
        for d in 1...3 {
            let v = Double(r.float32(76 + 4 * d))
            guard v.isFinite, v > 0 || d > ndim else {
                throw .invalidHeader(file: file, field: "pixdim[\(d)]", reason: "\(v) (voxel size must be finite and positive)")
            }
            pixdim.append(v > 0 ? v : 1)
        }
        let off = Double(r.float32(108))
        guard off.isFinite, off >= 352, off == off.rounded(), off < Double(Int32.max) else {
            throw .invalidHeader(file: file, field: "vox_offset", reason: "\(off) (must be a whole number of bytes, at least 352)")
        }
        for (field, at) in [("scl_slope", 112), ("scl_inter", 116)] where !r.float32(at).isFinite {
            throw .invalidHeader(file: file, field: field, reason: "\(r.float32(at)) is not finite")
        }
        let qform = Int(r.int16(252)), sform = Int(r.int16(254))
        for (field, v) in [("qform_code", qform), ("sform_code", sform)] where !(0...4).contains(v) {
            throw .invalidHeader(file: file, field: field, reason: "\(v) (must be 0...4)")
        }
        let qfields = ["quatern_b", "quatern_c", "quatern_d", "qoffset_x", "qoffset_y", "qoffset_z"]
        for (n, field) in qfields.enumerated() where !r.float32(256 + 4 * n).isFinite {
            throw .invalidHeader(file: file, field: field, reason: "not finite")
        }
        if sform > 0 {
            for (row, name) in ["srow_x", "srow_y", "srow_z"].enumerated() {
                let v = (0..<4).map { r.float32(280 + 16 * row + 4 * $0) }
                guard v.allSatisfy(\.isFinite) else { throw .invalidHeader(file: file, field: name, reason: "not finite") }
            }
        }
        try validateExtensions(r, voxOffset: Int(off), file: file)
        let (n1, o1) = dim[0].multipliedReportingOverflow(by: dim[1])
        let (n2, o2) = n1.multipliedReportingOverflow(by: dim[2])
        guard !o1, !o2, n2 <= maxVoxels else {
            throw .invalidHeader(file: file, field: "dim", reason: "\(dim[0])x\(dim[1])x\(dim[2]) exceeds \(maxVoxels) voxels")
        }
        let needed = Int(off) + n2 * dt.bytes
        guard bytes.count >= needed else {
            throw .truncated(file: file, field: "voxel data (vox_offset + dim * bitpix)", needed: needed, available: bytes.count)
        }
        return NIfTIHeader(dims: Array(dim[0..<3]), datatype: dt, voxOffset: Int(off), pixdim: pixdim, bigEndian: big)
    }

    /// How many bytes a file whose first 348 bytes are `prefix` needs (vox_offset plus voxel data),
    /// or `nil` when those bytes do not parse; lets a reader stop decompressing there, so a small
    /// hostile `.nii.gz` cannot expand into unbounded memory.
    public static func requiredBytes(_ prefix: [UInt8]) -> Int? {
        guard prefix.count >= 348 else { return nil }
        let raw = UInt32(prefix[0]) | UInt32(prefix[1]) << 8 | UInt32(prefix[2]) << 16 | UInt32(prefix[3]) << 24
        guard raw == 348 || raw.byteSwapped == 348 else { return nil }
        let r = ByteReader(bytes: prefix, bigEndian: raw != 348)
        let ndim = Int(r.int16(40))
        guard (1...7).contains(ndim), let dt = NIfTIDatatype(rawValue: Int(r.int16(70))) else { return nil }
        var count = 1
        for d in 0..<ndim {
            let v = Int(r.int16(42 + 2 * d))
            guard v >= 1 else { return nil }
            count *= v
            guard count <= maxVoxels else { return nil }
        }
        let off = Double(r.float32(108))
        guard off.isFinite, off >= 0, off < Double(Int32.max) else { return nil }
        return Int(off) + count * dt.bytes
    }

    /// Walks the extension chain between byte 352 and `vox_offset`: each esize a positive multiple of 16.
    private static func validateExtensions(_ r: ByteReader, voxOffset: Int, file: String) throws(NIfTIError) {
        guard voxOffset > 352, r.bytes.count > 348, r.bytes[348] != 0 else { return }
        var at = 352
        while at + 8 <= voxOffset, at + 8 <= r.bytes.count {
            let esize = Int(r.int32(at))
            guard esize >= 16, esize % 16 == 0, at + esize <= voxOffset else {
                throw .invalidHeader(file: file, field: "extension esize", reason: "\(esize) at byte \(at) (must be a positive multiple of 16 ending by vox_offset \(voxOffset))")
            }
            at += esize
        }
    }
}

/// Little- or big-endian reads from a byte array; offsets are checked by the caller.
struct ByteReader {
    let bytes: [UInt8]
    let bigEndian: Bool

    func uint32(_ at: Int) -> UInt32 {
        let v = UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
        return bigEndian ? v.byteSwapped : v
    }
    func int32(_ at: Int) -> Int32 { Int32(bitPattern: uint32(at)) }
    func int16(_ at: Int) -> Int16 {
        let v = UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
        return Int16(bitPattern: bigEndian ? v.byteSwapped : v)
    }
    func float32(_ at: Int) -> Float { Float(bitPattern: uint32(at)) }
}
