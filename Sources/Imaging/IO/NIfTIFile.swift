// The only Swift file that imports the C NIfTI library: every pointer stays inside this file.
import CNIfTI
import Foundation
import Tensor

/// A NIfTI volume as read from disk: the voxels (with scl_slope/scl_inter applied) and its header.
public struct NIfTIImage: Sendable {
    /// Voxels and geometry (sform when sform_code > 0, else qform, as nibabel's `get_best_affine`).
    public var volume: Volume
    /// The validated header.
    public var header: NIfTIHeader
}

/// NIfTI-1 reading and writing through libnifti (`.nii` and `.nii.gz`).
///
/// Every file is validated by ``NIfTIHeader/decode(_:file:)`` before libnifti sees it, so corrupt,
/// truncated or hostile files throw a ``NIfTIError`` naming the file and field instead of crashing.
public enum NIfTI {
    /// Reads a `.nii` or `.nii.gz` file as a ``Volume``.
    public static func read(_ url: URL) throws(NIfTIError) -> Volume { try load(url).volume }

    /// Reads the file's decompressed bytes and validates its header without decoding voxels.
    public static func readHeader(_ url: URL) throws(NIfTIError) -> NIfTIHeader {
        try NIfTIHeader.decode(try decompressedBytes(url), file: url.path)
    }

    /// Reads a file and returns its volume and header.
    public static func load(_ url: URL) throws(NIfTIError) -> NIfTIImage {
        let path = url.path
        let gz = path.hasSuffix(".nii.gz")
        guard gz || path.hasSuffix(".nii") else { throw .unsupportedExtension(file: path) }
        let header = try NIfTIHeader.decode(try decompressedBytes(url), file: path)
        // libnifti reads x.nii instead of x.nii.gz when both exist: read through a private link then.
        var readPath = path
        var linkDir: URL?
        if gz, FileManager.default.fileExists(atPath: String(path.dropLast(3))) {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("segviz-nifti-\(UUID().uuidString)")
            do {
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                let link = dir.appendingPathComponent("volume.nii.gz")
                try FileManager.default.createSymbolicLink(at: link, withDestinationURL: url.standardizedFileURL.absoluteURL)
                readPath = link.path
                linkDir = dir
            } catch { throw .cannotOpen(file: path, reason: "cannot make a private link beside \(dir.path): \(error)") }
        }
        defer { if let linkDir { try? FileManager.default.removeItem(at: linkDir) } }
        nifti_set_debug_level(0)
        guard let nim = nifti_image_read(readPath, 1) else { throw .library(file: path, reason: "nifti_image_read failed") }
        defer { nifti_image_free(nim) }
        let n = nim.pointee
        guard [Int(n.nx), Int(n.ny), Int(n.nz)] == header.dims, Int(n.datatype) == header.datatype.rawValue,
              let data = n.data else {
            throw .library(file: path, reason: "image disagrees with the validated header or has no data")
        }
        let count = header.dims.reduce(1, *)
        var voxels = [Float](repeating: 0, count: count)
        let raw = UnsafeRawPointer(data)
        voxels.withUnsafeMutableBufferPointer { out in
            func copy<T>(_: T.Type, _ f: (T) -> Float) {
                let p = raw.bindMemory(to: T.self, capacity: count)
                for i in 0..<count { out[i] = f(p[i]) }
            }
            switch header.datatype {
            case .uint8: copy(UInt8.self) { Float($0) }
            case .int8: copy(Int8.self) { Float($0) }
            case .int16: copy(Int16.self) { Float($0) }
            case .uint16: copy(UInt16.self) { Float($0) }
            case .int32: copy(Int32.self) { Float($0) }
            case .float32: copy(Float.self) { $0 }
            case .float64: copy(Double.self) { Float($0) }
            }
            let slope = n.scl_slope, inter = n.scl_inter
            if slope != 0, slope.isFinite, inter.isFinite, slope != 1 || inter != 0 {
                for i in 0..<count { out[i] = out[i] * slope + inter }
            }
        }
        let mat = n.sform_code > 0 ? n.sto_xyz : n.qto_xyz
        let affine = Affine(rowMajor: rows(mat))
        guard affine.inverse != nil else {
            throw .invalidHeader(file: path, field: n.sform_code > 0 ? "srow_x/srow_y/srow_z" : "quatern/pixdim", reason: "singular voxel-to-world affine")
        }
        return NIfTIImage(volume: Volume(grid: VoxelGrid(dims: header.dims, affine: affine), voxels: voxels), header: header)
    }

    /// Writes `volume` as NIfTI-1 (`.nii.gz` compressed, `.nii` plain) with qform and sform both set
    /// to its affine (codes 1, scanner) and millimetre units. Integer datatypes round and clamp.
    /// The file appears atomically: it is written under a temporary name in the same folder, then renamed.
    public static func write(_ volume: Volume, to url: URL, datatype: NIfTIDatatype = .float32) throws(NIfTIError) {
        let path = url.path
        let gz = path.hasSuffix(".nii.gz")
        guard gz || path.hasSuffix(".nii") else { throw .unsupportedExtension(file: path) }
        let dir = url.deletingLastPathComponent()
        let tmp = URL(fileURLWithPath: AtomicFile.temporaryPath(for: path, suffix: gz ? ".nii.gz" : ".nii"))
        var dims: [Int32] = [3] + volume.dims.map(Int32.init) + [1, 1, 1, 1]
        guard let nim = nifti_make_new_nim(&dims, Int32(datatype.rawValue), 1) else {
            throw .writeFailed(file: path, reason: "nifti_make_new_nim failed")
        }
        defer { nifti_image_free(nim) }
        let count = volume.voxels.count
        let out = UnsafeMutableRawPointer(nim.pointee.data!)
        volume.voxels.withUnsafeBufferPointer { v in
            func store<T>(_: T.Type, _ f: (Float) -> T) {
                let p = out.bindMemory(to: T.self, capacity: count)
                for i in 0..<count { p[i] = f(v[i]) }
            }
            func clamp<T: FixedWidthInteger>(_ x: Float, _: T.Type) -> T {
                guard x.isFinite else { return 0 }
                return T(clamping: Int64(max(Float(T.min), min(Float(T.max), x.rounded()))))
            }
            switch datatype {
            case .uint8: store(UInt8.self) { clamp($0, UInt8.self) }
            case .int8: store(Int8.self) { clamp($0, Int8.self) }
            case .int16: store(Int16.self) { clamp($0, Int16.self) }
            case .uint16: store(UInt16.self) { clamp($0, UInt16.self) }
            case .int32: store(Int32.self) { clamp($0, Int32.self) }
            case .float32: store(Float.self) { $0 }
            case .float64: store(Double.self) { Double($0) }
            }
        }
        var m = mat44()
        let a = volume.affine
        withUnsafeMutableBytes(of: &m.m) { buf in
            let f = buf.bindMemory(to: Float.self)
            for i in 0..<16 { f[i] = Float(a.m[i]) }
        }
        var qb: Float = 0, qc: Float = 0, qd: Float = 0, qx: Float = 0, qy: Float = 0, qz: Float = 0
        var dx: Float = 0, dy: Float = 0, dz: Float = 0, qfac: Float = 0
        nifti_mat44_to_quatern(m, &qb, &qc, &qd, &qx, &qy, &qz, &dx, &dy, &dz, &qfac)
        nim.pointee.quatern_b = qb; nim.pointee.quatern_c = qc; nim.pointee.quatern_d = qd
        nim.pointee.qoffset_x = qx; nim.pointee.qoffset_y = qy; nim.pointee.qoffset_z = qz
        nim.pointee.qfac = qfac
        nim.pointee.qto_xyz = nifti_quatern_to_mat44(qb, qc, qd, qx, qy, qz, dx, dy, dz, qfac)
        nim.pointee.sto_xyz = m
        nim.pointee.qform_code = 1
        nim.pointee.sform_code = 1
        nim.pointee.dx = dx; nim.pointee.dy = dy; nim.pointee.dz = dz
        withUnsafeMutableBytes(of: &nim.pointee.pixdim) { buf in
            let f = buf.bindMemory(to: Float.self)
            f[0] = qfac; f[1] = dx; f[2] = dy; f[3] = dz
        }
        nim.pointee.xyz_units = Int32(NIFTI_UNITS_MM)
        guard nifti_set_filenames(nim, tmp.path, 0, 1) == 0 else {
            throw .writeFailed(file: path, reason: "nifti_set_filenames rejected \(tmp.lastPathComponent)")
        }
        nifti_set_debug_level(0)
        nifti_image_write(nim)
        let size = (try? FileManager.default.attributesOfItem(atPath: tmp.path)[.size] as? Int) ?? 0
        guard size > 0 else {
            try? FileManager.default.removeItem(at: tmp)
            throw .writeFailed(file: path, reason: "libnifti wrote nothing (is \(dir.path) writable?)")
        }
        do { try AtomicFile.commit(temporary: tmp.path, to: path) } catch {
            throw .writeFailed(file: path, reason: error.problem)
        }
    }

    /// The file decompressed (gzip is detected by zlib; plain files pass through), up to the bytes its
    /// header says it needs: trailing data is not read, and a header that does not parse stops at 348 bytes.
    static func decompressedBytes(_ url: URL) throws(NIfTIError) -> [UInt8] {
        let path = url.path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
            throw .cannotOpen(file: path, reason: "no such file")
        }
        var f: znzFile? = znzopen(path, "rb", 1)
        guard f != nil else { throw .cannotOpen(file: path, reason: "znzopen failed") }
        defer { _ = segviz_znzclose(&f) }
        var bytes = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var limit = 348  // until the header says how much the file needs
        while bytes.count < limit {
            let want = min(chunk.count, limit - bytes.count)
            let n = chunk.withUnsafeMutableBytes { znzread($0.baseAddress, 1, want, f) }
            if n == 0 { break }
            guard n > 0, n <= chunk.count else { throw .corruptCompression(file: path) }  // gzread -1
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count >= 348, limit == 348 { limit = NIfTIHeader.requiredBytes(Array(bytes.prefix(348))) ?? 348 }
        }
        if bytes.isEmpty, path.hasSuffix(".gz"),
           let size = try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int, size > 0 {
            throw .corruptCompression(file: path)
        }
        return bytes
    }

    private static func rows(_ m: mat44) -> [Double] {
        var t = m.m
        return withUnsafeBytes(of: &t) { Array($0.bindMemory(to: Float.self)).map(Double.init) }
    }
}
