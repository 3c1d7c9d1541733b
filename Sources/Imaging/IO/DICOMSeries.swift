// The only Swift file that imports the GDCM shim: every pointer stays inside this file.
import CGDCM
import Foundation

/// A CT series folder read through GDCM (Debian libgdcm-dev; decodes uncompressed, RLE, JPEG, JPEG-LS and
/// JPEG 2000 pixel data): the slices sorted by position along the slice normal, Rescale Slope/Intercept
/// applied (HU), and the affine derived from Image Position/Orientation (Patient) and Pixel Spacing
/// (DICOM PS3.3 C.7.6.2.1.1), converted from DICOM's LPS to RAS as NIfTI's.
///
/// Voxel (i, j, k) is column i, row j of sorted slice k. GDCM reads the files; this type checks what the
/// series as a whole must satisfy: one series, same size, orientation and pixel spacing in every image,
/// no duplicate positions, evenly spaced slices (a gap of a whole number of steps is a missing slice).
public enum DICOMSeries {
    /// Slice positions may deviate from an even step by this fraction of the step, plus 0.001 mm.
    public static let spacingTolerance = 0.01

    /// Whether `url` is a folder (a series) rather than a file.
    public static func isSeriesFolder(_ url: URL) -> Bool {
        var dir: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &dir) && dir.boolValue
    }

    /// Reads the one series in `folder`. Files without the DICOM signature (e.g. a README) and DICOM files
    /// without pixel data (e.g. a DICOMDIR) are ignored.
    public static func read(folder: URL) throws(DICOMError) -> Volume {
        let dir = folder.path
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: dir) } catch {
            throw .cannotList(folder: dir, reason: error.localizedDescription)
        }
        let files = names.filter { !$0.hasPrefix(".") }.sorted().map { folder.appendingPathComponent($0).path }
            .filter(hasDICOMSignature)
        guard !files.isEmpty else { throw .noDICOMFiles(folder: dir) }
        var slices: [DICOMSlice] = []
        for f in files {
            var h = cgdcm_header()
            var error = [CChar](repeating: 0, count: 512)
            guard cgdcm_read_header(f, &h, &error, error.count) == 0 else {
                throw .unreadable(file: f, reason: message(error))
            }
            guard h.hasPixelData != 0, h.rows > 0, h.columns > 0 else { continue }
            slices.append(try DICOMSlice(file: f, header: HeaderText(h)))
        }
        guard !slices.isEmpty else { throw .noImageData(folder: dir) }
        let stack = try DICOMStack(folder: dir, slices: slices)
        let plane = stack.rows * stack.columns
        var voxels = [Float](repeating: 0, count: plane * stack.slices.count)
        for (k, s) in stack.slices.enumerated() {
            var error = [CChar](repeating: 0, count: 512)
            let rc = voxels.withUnsafeMutableBufferPointer { buf in
                cgdcm_decode_pixels(s.file, buf.baseAddress! + k * plane, plane, &error, error.count)
            }
            guard rc == 0 else { throw .decodeFailed(file: s.file, reason: message(error)) }
            for n in (k * plane)..<((k + 1) * plane) { voxels[n] = Float(Double(voxels[n]) * s.slope + s.intercept) }
        }
        return Volume(grid: VoxelGrid(dims: [stack.columns, stack.rows, stack.slices.count], affine: stack.affine),
                      voxels: voxels)
    }

    /// The shim's NUL-terminated error text.
    static func message(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether the file starts with DICOM Part 10's 128-byte preamble and "DICM" (PS3.10 7.1).
    static func hasDICOMSignature(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        guard let d = try? h.read(upToCount: 132), d.count == 132 else { return false }
        return d.suffix(4).elementsEqual("DICM".utf8)
    }
}

/// The header's strings as Swift values.
struct HeaderText {
    var values: [String: String] = [:]
    var rows: Int, columns: Int, samplesPerPixel: Int

    init(_ h: cgdcm_header) {
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        values = [
            "SeriesInstanceUID": text(h.seriesInstanceUID), "ImagePositionPatient": text(h.imagePositionPatient),
            "ImageOrientationPatient": text(h.imageOrientationPatient), "PixelSpacing": text(h.pixelSpacing),
            "RescaleSlope": text(h.rescaleSlope), "RescaleIntercept": text(h.rescaleIntercept),
            "NumberOfFrames": text(h.numberOfFrames), "TransferSyntaxUID": text(h.transferSyntaxUID),
        ]
        rows = Int(h.rows)
        columns = Int(h.columns)
        samplesPerPixel = Int(h.samplesPerPixel)
    }

    subscript(_ key: String) -> String { values[key] ?? "" }
}
