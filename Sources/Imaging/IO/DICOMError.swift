/// Why a DICOM series folder could not be read; every case names the folder or file at fault.
public enum DICOMError: Error, Equatable, CustomStringConvertible {
    /// The folder does not exist or cannot be listed.
    case cannotList(folder: String, reason: String)
    /// No file in the folder is a DICOM Part 10 file ("DICM" at byte 128).
    case noDICOMFiles(folder: String)
    /// GDCM could not read a DICOM file.
    case unreadable(file: String, reason: String)
    /// DICOM files, but none holds an image (no Pixel Data, Rows or Columns: e.g. only reports or a DICOMDIR).
    case noImageData(folder: String)
    /// An image file lacks an attribute the geometry or the intensities need, or holds a malformed value.
    case badAttribute(file: String, attribute: String, value: String)
    /// Images of more than one series (Series Instance UIDs, sorted).
    case mixedSeries(folder: String, seriesUIDs: [String])
    /// An image differs from the first in size, orientation or pixel spacing (`attribute` names which).
    case inconsistentImages(folder: String, file: String, attribute: String)
    /// Two images at the same position along the slice normal.
    case duplicatePosition(folder: String, files: [String])
    /// A gap of `gap` mm between sorted slices `after` and `after + 1` where the series steps `spacing` mm:
    /// `missing` slices are absent.
    case missingSlice(folder: String, after: Int, missing: Int, gap: Double, spacing: Double)
    /// Slices whose spacing is neither the series' step nor a multiple of it (or that leave the stack's line).
    case inconsistentSpacing(folder: String, after: Int, gap: Double, spacing: Double)
    /// An image this reader does not handle (multi-frame, colour).
    case unsupported(file: String, reason: String)
    /// GDCM could not decode the pixel data.
    case decodeFailed(file: String, reason: String)

    /// The folder or file the error is about.
    public var location: String {
        switch self {
        case .cannotList(let f, _), .noDICOMFiles(let f), .noImageData(let f), .mixedSeries(let f, _),
             .inconsistentImages(let f, _, _), .duplicatePosition(let f, _), .missingSlice(let f, _, _, _, _),
             .inconsistentSpacing(let f, _, _, _): f
        case .unreadable(let f, _), .badAttribute(let f, _, _), .unsupported(let f, _), .decodeFailed(let f, _): f
        }
    }

    public var description: String {
        func mm(_ v: Double) -> String { String(format: "%.3f mm", v) }
        switch self {
        case let .cannotList(f, r): return "\(f): cannot list the DICOM series folder: \(r)"
        case let .noDICOMFiles(f): return "\(f): no DICOM files in the folder (none has the DICM signature)"
        case let .unreadable(f, r): return "\(f): unreadable DICOM file: \(r)"
        case let .noImageData(f): return "\(f): no image data: none of its DICOM files holds pixel data"
        case let .badAttribute(f, a, v): return "\(f): DICOM attribute \(a) is missing or malformed (\"\(v)\")"
        case let .mixedSeries(f, uids):
            return "\(f): mixed series: images of \(uids.count) series (Series Instance UIDs \(uids.joined(separator: ", "))); give one series per folder"
        case let .inconsistentImages(f, file, a): return "\(f): \(file) differs from the first image in \(a)"
        case let .duplicatePosition(f, files): return "\(f): two images at the same slice position: \(files.joined(separator: ", "))"
        case let .missingSlice(f, after, n, gap, sp):
            return "\(f): missing slice: \(n) slice(s) absent after sorted slice \(after) (gap \(mm(gap)), the series steps \(mm(sp)))"
        case let .inconsistentSpacing(f, after, gap, sp):
            return "\(f): inconsistent slice spacing: \(mm(gap)) after sorted slice \(after), the series steps \(mm(sp))"
        case let .unsupported(f, r): return "\(f): unsupported DICOM image: \(r)"
        case let .decodeFailed(f, r): return "\(f): cannot decode the pixel data: \(r)"
        }
    }
}
