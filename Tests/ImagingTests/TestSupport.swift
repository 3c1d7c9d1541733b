import Foundation
@testable import Imaging
import SegVizTesting

/// Helpers shared by the Imaging tests.
enum TestSupport {
    /// The shared data folder (SegVizTesting: `$SEGVIZ_SHARED/data`, else `<repo>/../shared/data`).
    static var sharedData: URL { SharedData.data }

    /// The repository's root folder (for its scripts).
    static var repoRoot: URL { SharedData.repositoryRoot }

    /// The real CT (TotalSegmentator example CT, Apache-2.0 / CC BY 4.0; see shared/data/README.md).
    static var realCT: URL { SharedData.realCT }

    /// A fresh temporary folder named for the test.
    static func tempDir(_ tag: String = #function) -> URL { try! TemporaryDirectory.make(prefix: "img", tag: tag) }

    /// Runs `python3 -c script args...`, returning stdout; throws with stderr on failure.
    static func python(_ script: String, _ args: [String] = []) throws -> String { try Subprocess.python(script, args) }

    /// A small volume with distinct values and the given affine.
    static func ramp(dims: [Int] = [5, 4, 3], affine: Affine = .diagonal((2, 3, 4), origin: (-10, 20, 5)),
                     scale: Float = 1, offset: Float = 0) -> Volume {
        let g = VoxelGrid(dims: dims, affine: affine)
        return Volume(grid: g, voxels: (0..<g.count).map { Float($0) * scale + offset })
    }
}
