// Fuzz targets of the imaging decoders: NIfTI header validation, the NIfTI reader (through libnifti),
// dataset.json, and safetensors (with the model loader that consumes it).
import Foundation
@testable import Federation
@testable import Imaging
import Tensor

let imagingTargets: [FuzzTarget] = [
    FuzzTarget(name: "nifti-header", seeds: niftiSeeds) { bytes in
        guard let h = try? NIfTIHeader.decode(bytes, file: "fuzz.nii") else { return }
        let need = h.voxOffset + h.dims.reduce(1, *) * h.datatype.bytes
        fuzzInvariant(need <= bytes.count, "accepted header needs \(need) bytes of \(bytes.count)")
        fuzzInvariant(NIfTIHeader.requiredBytes(Array(bytes.prefix(348))) == need, "requiredBytes disagrees with decode")
    },
    FuzzTarget(name: "nifti-read", seeds: { try niftiSeeds() + phantomNIfTISeeds() }) { bytes in
        let gz = bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
        let url = Fixtures.directory.appendingPathComponent(gz ? "input.nii.gz" : "input.nii")
        guard (try? Data(bytes).write(to: url)) != nil else { return }
        defer { try? FileManager.default.removeItem(at: url) }
        guard let image = try? NIfTI.load(url) else { return }
        fuzzInvariant(image.volume.voxels.count == image.header.dims.reduce(1, *), "voxel count differs from dims")
    },
    FuzzTarget(name: "dataset-json", seeds: datasetSeeds) { bytes in
        let root = datasetRoot
        guard (try? Data(bytes).write(to: root.appendingPathComponent("dataset.json"))) != nil else { return }
        guard let ds = try? Dataset.open(root) else { return }
        fuzzInvariant(!ds.training.isEmpty && ds.training.allSatisfy { $0.label != nil }, "training case without a label")
    },
    FuzzTarget(name: "safetensors", seeds: safetensorsSeeds) { bytes in
        guard let f = try? SafetensorsFile.decode(bytes, file: "fuzz.safetensors") else { return }
        // Compared as bytes: NaN elements are not equal to themselves.
        let again = try? SafetensorsFile.decode(f.encode(), file: "re-encoded")
        fuzzInvariant(again?.encode() == f.encode(), "safetensors does not round-trip")
        var model = Fixtures.model()
        try? model.load(f, path: "fuzz.safetensors")
    },
]

/// NIfTI seeds: the shared real CT with its header kept byte for byte but cropped to 8 x 8 x 8 voxels
/// (dims patched, data truncated), its bare header, and small phantom volumes in every stored datatype.
func niftiSeeds() throws -> [[UInt8]] {
    var out: [[UInt8]] = []
    if let ct = Fixtures.realCT {
        var b = try NIfTI.decompressedBytes(ct)
        let h = try NIfTIHeader.decode(b, file: ct.path)
        out.append(Array(b.prefix(352)))
        for d in 0..<3 {
            let v = h.bigEndian ? UInt16(8).bigEndian : UInt16(8).littleEndian
            withUnsafeBytes(of: v) { b[42 + 2 * d] = $0[0]; b[43 + 2 * d] = $0[1] }
        }
        out.append(Array(b.prefix(h.voxOffset + 512 * h.datatype.bytes)))
    }
    let c = PhantomGenerator(dims: [8, 8, 8]).generate(seed: 3, index: 0)
    for dt in [NIfTIDatatype.int16, .uint8, .float32, .int32] {
        let u = Fixtures.directory.appendingPathComponent("seed-\(dt).nii")
        try NIfTI.write(c.image, to: u, datatype: dt)
        out.append([UInt8](try Data(contentsOf: u)))
    }
    return out
}

/// Compressed phantom volumes exactly as `segviz phantom` writes them.
func phantomNIfTISeeds() throws -> [[UInt8]] {
    let d = Fixtures.phantomDataset
    return try ["imagesTr", "labelsTr"].flatMap { sub in
        try Dataset.niftiFiles(d.appendingPathComponent(sub)).prefix(1).map {
            [UInt8](try Data(contentsOf: d.appendingPathComponent(sub).appendingPathComponent($0)))
        }
    }
}

/// A data-set folder whose files the fuzzed dataset.json may name: the phantom set's.
let datasetRoot: URL = {
    let root = Fixtures.directory.appendingPathComponent("dataset")
    try? FileManager.default.removeItem(at: root)
    try! FileManager.default.copyItem(at: Fixtures.phantomDataset, to: root)
    return root
}()

func datasetSeeds() throws -> [[UInt8]] {
    let real = [UInt8](try Data(contentsOf: Fixtures.phantomDataset.appendingPathComponent("dataset.json")))
    let minimal = #"{"training":[{"image":"./imagesTr/x.nii.gz","label":"./labelsTr/x.nii.gz"}],"test":[]}"#
    return [real, Array(minimal.utf8)]
}

/// The tiny model's global-model artifact and a bare state dict.
func safetensorsSeeds() throws -> [[UInt8]] {
    var bare = SafetensorsFile(metadata: ["format": "pt"])
    bare.set("w", .f32(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]))
    bare.set("step", .i64(shape: [], values: [7]))
    return [Fixtures.artifact.bytes, bare.encode()]
}
