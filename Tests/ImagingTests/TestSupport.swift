import Foundation
@testable import Imaging

/// Helpers shared by the Imaging tests.
enum TestSupport {
    /// The repository root: this file's folder, up two levels (Tests/ImagingTests).
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The shared data folder: env SEGVIZ_SHARED/data, else `<repo>/../shared/data`.
    static var sharedData: URL {
        if let env = ProcessInfo.processInfo.environment["SEGVIZ_SHARED"], !env.isEmpty {
            return URL(fileURLWithPath: env).appendingPathComponent("data")
        }
        return repoRoot.deletingLastPathComponent().appendingPathComponent("shared/data")
    }

    /// The real CT (TotalSegmentator example CT, Apache-2.0 / CC BY 4.0; see shared/data/README.md).
    static var realCT: URL { sharedData.appendingPathComponent("real-ct-abdomen-3mm.nii.gz") }

    /// A fresh temporary folder.
    static func tempDir(_ tag: String = #function) -> URL {
        let name = tag.filter { $0.isLetter || $0.isNumber }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("segviz-img-\(name)-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Runs `python3 -c script args...`, returning stdout; throws with stderr on failure.
    static func python(_ script: String, _ args: [String] = []) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script] + args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw PythonError(message: String(decoding: e, as: UTF8.self))
        }
        return String(decoding: o, as: UTF8.self)
    }

    struct PythonError: Error, CustomStringConvertible { let message: String; var description: String { message } }

    /// A small volume with distinct values and the given affine.
    static func ramp(dims: [Int] = [5, 4, 3], affine: Affine = .diagonal((2, 3, 4), origin: (-10, 20, 5)),
                     scale: Float = 1, offset: Float = 0) -> Volume {
        let g = VoxelGrid(dims: dims, affine: affine)
        return Volume(grid: g, voxels: (0..<g.count).map { Float($0) * scale + offset })
    }
}
