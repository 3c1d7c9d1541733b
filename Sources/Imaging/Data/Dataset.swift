import Foundation

/// One CT case on disk: an image and, for training cases, its label file.
public struct Case: Sendable, Equatable {
    /// A short identifier (the image file name without `.nii.gz`/`.nii`).
    public var id: String
    /// The image file.
    public var image: URL
    /// The label file (`nil` for unlabelled test images).
    public var label: URL?
    /// The patient the scan belongs to (dataset.json's optional `patient` of a training entry): several scans of
    /// one patient are one unit of differential privacy. Nil: the case is its own patient.
    public var patient: String?

    /// A case from its files.
    public init(id: String, image: URL, label: URL?, patient: String? = nil) {
        self.id = id
        self.image = image
        self.label = label
        self.patient = patient
    }
}

/// Why a data-set folder could not be opened; names the folder or file.
public enum DatasetError: Error, Equatable, CustomStringConvertible {
    /// The folder has no layout this reader knows.
    case unknownLayout(folder: String)
    /// dataset.json cannot be parsed or misses a field.
    case badManifest(file: String, reason: String)
    /// A file the manifest or pairing names does not exist.
    case missingFile(file: String, referencedBy: String)
    /// The data set has no training cases.
    case empty(folder: String)

    public var description: String {
        switch self {
        case .unknownLayout(let f): "\(f): not a data set (expected dataset.json with imagesTr/labelsTr, img/+label/, or images/+labels/)"
        case .badManifest(let f, let r): "\(f): \(r)"
        case .missingFile(let f, let by): "\(f): missing (referenced by \(by))"
        case .empty(let f): "\(f): no training cases"
        }
    }
}

/// A folder of CT cases in one of the layouts hospitals and challenges use.
///
/// - `msd`: Medical Segmentation Decathlon, `dataset.json` listing `training` image/label pairs
///   (`./imagesTr/x.nii.gz`, `./labelsTr/x.nii.gz`) and `test` images (`./imagesTs/...`).
/// - `btcv`: BTCV's `img/imgNNNN.nii.gz` with `label/labelNNNN.nii.gz`.
/// - `pairs`: `images/` with `labels/` (or `imagesTr/` with `labelsTr/`) holding files of equal names.
/// Hidden files (`.x`, and macOS `._x` copies found in the real MSD archives) are skipped. An image entry may
/// be a folder holding one DICOM series (``DICOMSeries``); its label is a NIfTI file on the series' grid
/// (in `btcv`/`pairs` layouts named as the folder plus `.nii.gz`).
public struct Dataset: Sendable {
    /// Which layout the folder has.
    public enum Layout: String, Sendable { case msd, btcv, pairs }

    /// The folder.
    public var root: URL
    /// The layout found.
    public var layout: Layout
    /// The data set's name (dataset.json `name`, else the folder name).
    public var name: String
    /// Labelled cases.
    public var training: [Case]
    /// Unlabelled cases (MSD `test`).
    public var test: [Case]

    /// Opens a data-set folder, detecting its layout.
    public static func open(_ root: URL) throws(DatasetError) -> Dataset {
        let fm = FileManager.default
        let has = { (name: String) in
            var dir: ObjCBool = false
            return fm.fileExists(atPath: root.appendingPathComponent(name).path, isDirectory: &dir) && dir.boolValue
        }
        let manifest = root.appendingPathComponent("dataset.json")
        var ds: Dataset
        if fm.fileExists(atPath: manifest.path) {
            ds = try openMSD(root, manifest: manifest)
        } else if has("img"), has("label") {
            ds = try pairs(root, images: "img", labels: "label", layout: .btcv) { "label" + $0.dropFirst(3) }
        } else if has("images"), has("labels") {
            ds = try pairs(root, images: "images", labels: "labels", layout: .pairs) { $0 }
        } else if has("imagesTr"), has("labelsTr") {
            ds = try pairs(root, images: "imagesTr", labels: "labelsTr", layout: .pairs) { $0 }
        } else {
            throw .unknownLayout(folder: root.path)
        }
        guard !ds.training.isEmpty else { throw .empty(folder: root.path) }
        ds.training.sort { $0.id < $1.id }
        return ds
    }

    /// The `.nii`/`.nii.gz` files in a folder, sorted, hidden files skipped.
    static func niftiFiles(_ dir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [])
            .filter { !$0.hasPrefix(".") && ($0.hasSuffix(".nii.gz") || $0.hasSuffix(".nii")) }.sorted()
    }

    /// NIfTI files and DICOM series folders (any visible sub-folder) in `dir`.
    static func imageEntries(_ dir: URL) -> [String] {
        let folders = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [])
            .filter { !$0.hasPrefix(".") && DICOMSeries.isSeriesFolder(dir.appendingPathComponent($0)) }
        return (niftiFiles(dir) + folders).sorted()
    }

    /// A file name without `.nii.gz` or `.nii`.
    static func stem(_ name: String) -> String {
        name.hasSuffix(".nii.gz") ? String(name.dropLast(7)) : name.hasSuffix(".nii") ? String(name.dropLast(4)) : name
    }

    private static func pairs(_ root: URL, images: String, labels: String, layout: Layout,
                              labelName: (String) -> String) throws(DatasetError) -> Dataset {
        let imgDir = root.appendingPathComponent(images), labDir = root.appendingPathComponent(labels)
        var cases = [Case]()
        for f in imageEntries(imgDir) {
            // a series folder's label is the NIfTI file of the same name
            let series = DICOMSeries.isSeriesFolder(imgDir.appendingPathComponent(f))
            let label = labDir.appendingPathComponent(labelName(f) + (series ? ".nii.gz" : ""))
            guard FileManager.default.fileExists(atPath: label.path) else {
                throw .missingFile(file: label.path, referencedBy: imgDir.appendingPathComponent(f).path)
            }
            cases.append(Case(id: stem(f), image: imgDir.appendingPathComponent(f), label: label))
        }
        return Dataset(root: root, layout: layout, name: root.lastPathComponent, training: cases, test: [])
    }

    private static func openMSD(_ root: URL, manifest: URL) throws(DatasetError) -> Dataset {
        let json: [String: Any]
        do {
            guard let j = try JSONSerialization.jsonObject(with: Data(contentsOf: manifest)) as? [String: Any] else {
                throw DatasetError.badManifest(file: manifest.path, reason: "top level is not an object")
            }
            json = j
        } catch let e as DatasetError { throw e } catch {
            throw .badManifest(file: manifest.path, reason: "invalid JSON: \(error.localizedDescription)")
        }
        guard let training = json["training"] as? [[String: Any]] else {
            throw .badManifest(file: manifest.path, reason: "missing \"training\" list of {image, label}")
        }
        func resolve(_ rel: String) throws(DatasetError) -> URL {
            let url = root.appendingPathComponent(rel.hasPrefix("./") ? String(rel.dropFirst(2)) : rel)
            guard FileManager.default.fileExists(atPath: url.path) else { throw .missingFile(file: url.path, referencedBy: manifest.path) }
            return url
        }
        var cases = [Case]()
        for (n, item) in training.enumerated() {
            guard let img = item["image"] as? String, let lab = item["label"] as? String else {
                throw .badManifest(file: manifest.path, reason: "training[\(n)] needs string fields image and label")
            }
            let image = try resolve(img)
            var patient: String?
            if let p = item["patient"] {
                guard let text = p as? String, !text.isEmpty else {
                    throw .badManifest(file: manifest.path, reason: "training[\(n)].patient must be a non-empty string")
                }
                patient = text
            }
            cases.append(Case(id: stem(image.lastPathComponent), image: image, label: try resolve(lab), patient: patient))
        }
        var test = [Case]()
        for item in (json["test"] as? [Any]) ?? [] {
            let rel = (item as? String) ?? ((item as? [String: Any])?["image"] as? String)
            guard let rel else { throw .badManifest(file: manifest.path, reason: "test entries must be paths") }
            let image = try resolve(rel)
            test.append(Case(id: stem(image.lastPathComponent), image: image, label: nil))
        }
        return Dataset(root: root, layout: .msd, name: (json["name"] as? String) ?? root.lastPathComponent,
                       training: cases, test: test)
    }
}
