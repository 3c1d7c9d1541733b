import Foundation

/// What is wrong with one case; every problem names the file at fault.
public enum CaseProblem: Error, Equatable, CustomStringConvertible {
    /// The image or label file cannot be read.
    case unreadable(NIfTIError)
    /// The image is a DICOM series folder that cannot be read as one series.
    case unreadableSeries(DICOMError)
    /// The label's dims differ from the image's.
    case shapeMismatch(label: String, imageDims: [Int], labelDims: [Int])
    /// The label's affine differs from the image's by more than 1e-3 mm.
    case affineMismatch(label: String)
    /// The label holds values the `--labels` mapping does not know.
    case unknownLabels(label: String, values: [Int], mapping: String)
    /// A training case without a label file.
    case missingLabel(image: String)

    /// The file at fault.
    public var file: String {
        switch self {
        case .unreadable(let e): e.file
        case .unreadableSeries(let e): e.location
        case .shapeMismatch(let f, _, _), .affineMismatch(let f), .unknownLabels(let f, _, _): f
        case .missingLabel(let f): f
        }
    }

    public var description: String {
        switch self {
        case .unreadable(let e): e.description
        case .unreadableSeries(let e): e.description
        case .shapeMismatch(let f, let a, let b): "\(f): label dims \(b) differ from the image's \(a)"
        case .affineMismatch(let f): "\(f): label affine differs from the image's"
        case .unknownLabels(let f, let v, let m):
            "\(f): label values \(v) are not in --labels \"\(m)\" (add them, or *:background to ignore other values)"
        case .missingLabel(let f): "\(f): no label file"
        }
    }
}

/// An image and its label in federation numbering, read and checked.
public struct LabelledVolume: Sendable {
    /// The case it came from.
    public var source: Case
    /// CT intensities (HU) as stored.
    public var image: Volume
    /// Federation labels (0 background, 1 liver, 2 spleen) on the image's grid.
    public var label: Volume
}

public extension Volume {
    /// Reads a CT image: a `.nii`/`.nii.gz` file, or a folder holding one DICOM series (``DICOMSeries``).
    static func read(image url: URL) throws(CaseProblem) -> Volume {
        if DICOMSeries.isSeriesFolder(url) {
            do { return try DICOMSeries.read(folder: url) } catch { throw .unreadableSeries(error) }
        }
        do { return try NIfTI.read(url) } catch { throw .unreadable(error) }
    }
}

public extension Dataset {
    /// Reads one training case and checks it: both files readable, same dims and affine, and every
    /// label value known by `mapping`. Returns the label already mapped to federation numbering.
    func load(_ c: Case, mapping: LabelMapping) throws(CaseProblem) -> LabelledVolume {
        guard let labelURL = c.label else { throw .missingLabel(image: c.image.path) }
        let image: Volume, raw: Volume
        image = try Volume.read(image: c.image)
        do { raw = try NIfTI.read(labelURL) } catch { throw .unreadable(error) }
        guard image.dims == raw.dims else {
            throw .shapeMismatch(label: labelURL.path, imageDims: image.dims, labelDims: raw.dims)
        }
        guard image.affine.isClose(to: raw.affine, tolerance: 1e-3) else { throw .affineMismatch(label: labelURL.path) }
        do {
            return LabelledVolume(source: c, image: image, label: try mapping.apply(to: raw))
        } catch { throw .unknownLabels(label: labelURL.path, values: error.values, mapping: mapping.description) }
    }

    /// Checks every training case; see ``ValidationReport``.
    func validate(mapping: LabelMapping) -> ValidationReport {
        var good = [Case](), bad = [CaseProblem]()
        for c in training {
            do { _ = try load(c, mapping: mapping); good.append(c) } catch { bad.append(error) }
        }
        return ValidationReport(usable: good, problems: bad)
    }
}

/// The outcome of checking a data set against a label mapping.
public struct ValidationReport: Sendable {
    /// Cases that passed.
    public var usable: [Case]
    /// One entry per failing case, naming its file.
    public var problems: [CaseProblem]
    /// Whether every case passed.
    public var isClean: Bool { problems.isEmpty }
}

/// Thrown when a data set has bad cases and skipping them was not asked for.
public struct DatasetRefused: Error, CustomStringConvertible {
    /// The failing cases.
    public var problems: [CaseProblem]
    /// An error listing `problems`.
    public init(problems: [CaseProblem]) { self.problems = problems }
    public var description: String {
        "refusing to use a data set with \(problems.count) bad case(s) (pass --skip-bad-cases to leave them out):\n"
            + problems.map { "  " + $0.description }.joined(separator: "\n")
    }
}
