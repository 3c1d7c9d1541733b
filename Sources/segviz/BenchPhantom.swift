import ArgumentParser
import Foundation
import Imaging
import NN

/// `segviz bench phantom`: times the phantom generator on a full scanner grid (default 512 x 512 x 100 at
/// 0.8 x 0.8 x 3 mm), the case size issue 17 asks to make in a few seconds on one core.
struct BenchPhantom: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "phantom",
        abstract: "Time phantom generation on a scanner grid; last line: phantom_s phantom_cpu_s demo_case_cpu_s dims cores.",
        discussion: """
        phantom_s is the median wall time of one case, phantom_cpu_s its median CPU time (all threads: what one core
        would take, unaffected by other processes competing for the cores). demo_case_cpu_s is the median CPU time of one
        case as `segviz demo` makes it (random scanner grid, resampled to --spacing). For a one-core wall time run it
        under `taskset -c 0`.
        """)

    @Option(help: "Cases timed (seeds 1..N, case index 0).") var cases: Int = 3
    @Option(help: "In-plane pixel size (mm); the matrix is 512.") var pixel: Double = 0.8
    @Option(help: "Slices (3 mm apart).") var slices: Int = 100
    @Option(help: "Training spacing of the demo-like cases (mm).") var spacing: Double = 4.5

    func validate() throws {
        guard cases >= 1, slices >= 2, pixel > 0.2, pixel < 5, spacing > 0.2 else {
            throw ValidationError("--cases >= 1, --slices >= 2, --pixel 0.2...5 mm, --spacing > 0.2 mm")
        }
    }

    func run() throws {
        let scan = ScanGeometry(pixelSpacing: pixel, sliceSpacing: 3, top: 120, bottom: 120 - 3 * Double(slices - 1))
        var wall = [Double](), cpu = [Double](), demo = [Double]()
        var dims = [Int]()
        for n in 1...cases {
            let (t0, c0) = (Date(), Profiler.processCPU())
            let c = PhantomGenerator().generate(seed: UInt64(n), index: 0, scan: scan)
            wall.append(Date().timeIntervalSince(t0))
            cpu.append(Profiler.processCPU() - c0)
            dims = c.image.dims
            let c1 = Profiler.processCPU()
            let d = PhantomGenerator(spacing: SIMD3(repeating: spacing), scanner: true).generate(seed: UInt64(n), index: 1)
            demo.append(Profiler.processCPU() - c1)
            print(String(format: "case %d: %@ %.2f s wall, %.2f s CPU; demo-like case %@ %.2f s CPU", n,
                         dims.map(String.init).joined(separator: "x"), wall.last!, cpu.last!,
                         d.image.dims.map(String.init).joined(separator: "x"), demo.last!))
        }
        print(String(format: "phantom_s=%.3f phantom_cpu_s=%.3f demo_case_cpu_s=%.3f dims=%@ pixel_mm=%.2f cores=%d", median(wall), median(cpu),
                     median(demo), dims.map(String.init).joined(separator: "x"), pixel, ProcessInfo.processInfo.activeProcessorCount))
    }
}
