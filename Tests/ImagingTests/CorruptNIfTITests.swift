import Foundation
import Testing
@testable import Imaging

/// Corrupt, truncated and hostile files: each gives its own error naming the file and field.
@Suite(.timeLimit(.minutes(5))) struct CorruptNIfTITests {
    /// The bytes of a valid small int16 `.nii`.
    static func validBytes() throws -> [UInt8] {
        let dir = TestSupport.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("ok.nii")
        try NIfTI.write(TestSupport.ramp(), to: url, datatype: .int16)
        return [UInt8](try Data(contentsOf: url))
    }

    static func put16(_ b: inout [UInt8], _ at: Int, _ v: Int16) {
        let u = UInt16(bitPattern: v); b[at] = UInt8(u & 0xFF); b[at + 1] = UInt8(u >> 8)
    }
    static func putFloat(_ b: inout [UInt8], _ at: Int, _ v: Float) {
        let u = v.bitPattern; for i in 0..<4 { b[at + i] = UInt8((u >> (8 * UInt32(i))) & 0xFF) }
    }

    /// Writes `bytes` as `name` and returns the error reading it throws.
    static func error(reading bytes: [UInt8], name: String = "bad.nii") throws -> NIfTIError? {
        let dir = TestSupport.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        do { _ = try NIfTI.read(url); return nil } catch { return error }
    }

    static func field(_ e: NIfTIError?) -> String? {
        switch e {
        case .invalidHeader(_, let f, _)?, .truncated(_, let f, _, _)?: f
        default: nil
        }
    }

    @Test func validBytesDecode() throws {
        let h = try NIfTIHeader.decode(try Self.validBytes(), file: "ok.nii")
        #expect(h.dims == [5, 4, 3] && h.datatype == .int16 && h.voxOffset == 352)
    }

    @Test func garbageIsBadSizeofHdr() throws {
        let e = try Self.error(reading: (0..<2000).map { UInt8(($0 * 37) & 0xFF) })
        // sizeof_hdr reads bytes 0, 37, 74, 111: neither 348 nor 348 byte-swapped.
        #expect(Self.field(e) == "sizeof_hdr", "got \(String(describing: e))")
        #expect(Self.field(e) == "sizeof_hdr")
        #expect(e?.file.hasSuffix("bad.nii") == true)
        #expect(e.map { "\($0)" }?.contains("bad.nii") == true)
    }

    @Test func shortHeaderIsTruncated() throws {
        let e = try Self.error(reading: Array(try Self.validBytes().prefix(200)))
        guard case .truncated(_, "sizeof_hdr", 348, 200)? = e else { Issue.record("got \(String(describing: e))"); return }
    }

    @Test func missingVoxelsAreTruncatedData() throws {
        let b = try Self.validBytes()
        let e = try Self.error(reading: Array(b.prefix(b.count - 10)))
        guard case .truncated(_, let field, 472, let have)? = e else { Issue.record("got \(String(describing: e))"); return }
        #expect(field.hasPrefix("voxel data") && have == 462)
    }

    @Test func eachBadFieldIsNamed() throws {
        let b = try Self.validBytes()
        var cases: [(String, [UInt8])] = []
        var m = b; m[345] = UInt8(ascii: "i"); cases.append(("magic", m))
        m = b; Self.put16(&m, 40, 9); cases.append(("dim[0]", m))
        m = b; Self.put16(&m, 44, -4); cases.append(("dim[2]", m))
        m = b; Self.put16(&m, 40, 4); Self.put16(&m, 48, 2); cases.append(("dim[4]", m))
        m = b; Self.put16(&m, 70, 1); cases.append(("datatype", m))
        m = b; Self.put16(&m, 72, 32); cases.append(("bitpix", m))
        m = b; Self.putFloat(&m, 84, 0); cases.append(("pixdim[2]", m))
        m = b; Self.putFloat(&m, 108, 100); cases.append(("vox_offset", m))
        m = b; Self.putFloat(&m, 108, .nan); cases.append(("vox_offset", m))
        m = b; Self.putFloat(&m, 112, .infinity); cases.append(("scl_slope", m))
        m = b; Self.put16(&m, 254, 7); cases.append(("sform_code", m))
        m = b; Self.putFloat(&m, 284, .nan); cases.append(("srow_x", m))
        m = b; Self.put16(&m, 42, 32767); Self.put16(&m, 44, 32767); Self.put16(&m, 46, 32767); cases.append(("dim", m))
        for (field, bytes) in cases {
            let e = try Self.error(reading: bytes)
            #expect(Self.field(e) == field, "expected \(field), got \(String(describing: e))")
        }
    }

    @Test func hostileExtensionChainIsRejected() throws {
        var b = try Self.validBytes()
        // claim an extension and a vox_offset of 368 with an esize that runs past it
        b[348] = 1
        let ext: [UInt8] = [0xF0, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 8)
        b.insert(contentsOf: ext, at: 352)
        Self.putFloat(&b, 108, 368)
        #expect(Self.field(try Self.error(reading: b)) == "extension esize")
    }

    @Test func truncatedAndGarbageGzip() throws {
        let dir = TestSupport.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("v.nii.gz")
        let big = Volume(grid: VoxelGrid(dims: [40, 40, 40], affine: .identity),
                         voxels: (0..<64000).map { Float(($0 * 7919) % 30000) })
        try NIfTI.write(big, to: url, datatype: .float32)
        let gz = [UInt8](try Data(contentsOf: url))
        let cut = try Self.error(reading: Array(gz.prefix(gz.count / 2)), name: "cut.nii.gz")
        guard case .truncated(let f, _, _, _)? = cut else { Issue.record("got \(String(describing: cut))"); return }
        #expect(f.hasSuffix("cut.nii.gz"))
        let junk = try Self.error(reading: [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3] + [UInt8](repeating: 0xFF, count: 400), name: "junk.nii.gz")
        guard case .corruptCompression(let j)? = junk else { Issue.record("got \(String(describing: junk))"); return }
        #expect(j.hasSuffix("junk.nii.gz"))
    }

    @Test func decompressionStopsWhereTheHeaderSaysTheDataEnds() throws {
        let dir = TestSupport.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        // a valid small volume followed by 256 MiB of zeros: a gzip bomb of about 256 KiB
        let plain = dir.appendingPathComponent("ok.nii")
        try NIfTI.write(TestSupport.ramp(), to: plain, datatype: .int16)
        let bomb = dir.appendingPathComponent("bomb.nii.gz")
        let script = """
        import sys, gzip
        with gzip.open(sys.argv[2], "wb", compresslevel=1) as g:
            g.write(open(sys.argv[1], "rb").read())
            z = bytes(1 << 20)
            for _ in range(256): g.write(z)
        """
        _ = try TestSupport.python(script, [plain.path, bomb.path])
        let size = try FileManager.default.attributesOfItem(atPath: bomb.path)[.size] as? Int ?? 0
        #expect(size < 2 * 1024 * 1024)
        #expect(try NIfTI.decompressedBytes(bomb).count == 352 + 60 * 2)
        #expect(try NIfTI.read(bomb).voxels == TestSupport.ramp().voxels)
    }

    @Test func missingFileAndWrongExtension() throws {
        let dir = TestSupport.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: NIfTIError.cannotOpen(file: dir.appendingPathComponent("none.nii").path, reason: "no such file")) {
            try NIfTI.read(dir.appendingPathComponent("none.nii"))
        }
        #expect(throws: NIfTIError.unsupportedExtension(file: dir.appendingPathComponent("x.img").path)) {
            try NIfTI.read(dir.appendingPathComponent("x.img"))
        }
    }
}

/// Seeded header mutations, each checked against what the bytes it changed must give: a changed sizeof_hdr
/// or magic is refused naming that field; changes confined to fields no reader uses (data_type, db_name,
/// extents, session_error, regular, dim_info, descrip, aux_file, intent_name) leave the volume readable and
/// its voxels unchanged; any other change is either refused with an error naming the file or read by
/// libnifti without a crash, agreeing with the validated header.
@Suite struct HeaderMutationTests {
    /// Byte ranges of the NIfTI-1 header that neither the validator nor the voxel reader uses (nifti1.h).
    static let unusedFields: [Range<Int>] = [4..<40, 148..<252, 328..<344]

    @Test func mutatedHeadersNeverCrash() throws {
        let valid = try CorruptNIfTITests.validBytes()
        let voxels = TestSupport.ramp().voxels
        let dir = TestSupport.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = SeededRandom(seed: 2024)
        var kinds: [String: Int] = [:]
        for n in 0..<300 {
            var b = valid
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                b[Int.random(in: 0..<352, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            let changed = (0..<352).filter { b[$0] != valid[$0] }
            let url = dir.appendingPathComponent("m\(n).nii")
            try Data(b).write(to: url)
            let decoded = Result { () throws(NIfTIError) in try NIfTIHeader.decode(b, file: "m\(n).nii") }
            if changed.contains(where: { $0 < 4 }) {
                kinds["sizeof_hdr", default: 0] += 1
                #expect(CorruptNIfTITests.field(decoded.failure) == "sizeof_hdr", "case \(n): \(decoded)")
            } else if changed.contains(where: { (344..<348).contains($0) }) {
                kinds["magic", default: 0] += 1
                #expect(CorruptNIfTITests.field(decoded.failure) == "magic", "case \(n): \(decoded)")
            } else if changed.allSatisfy({ c in Self.unusedFields.contains { $0.contains(c) } }) {
                kinds["unused", default: 0] += 1
                #expect(decoded.failure == nil, "case \(n): unused fields \(changed) refused: \(decoded)")
                #expect(try NIfTI.read(url).voxels == voxels, "case \(n): unused fields \(changed) changed the voxels")
            } else {
                switch decoded {
                case let .failure(error):
                    kinds["refused", default: 0] += 1
                    #expect(error.file == "m\(n).nii")
                case let .success(h):
                    kinds["read", default: 0] += 1
                    do {
                        let v = try NIfTI.read(url)
                        #expect(v.dims == h.dims)
                    } catch { #expect(error.file == url.path) }
                }
            }
        }
        // Each kind of mutation occurred, so none of the checks above was vacuous.
        for kind in ["sizeof_hdr", "magic", "unused", "refused", "read"] {
            #expect(kinds[kind, default: 0] > 0, "no mutation of kind '\(kind)' among \(kinds)")
        }
    }
}

extension Result {
    /// The error of a failure, nil for a success.
    var failure: Failure? { if case let .failure(e) = self { e } else { nil } }
}
