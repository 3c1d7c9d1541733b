import ArgumentParser
import Foundation
import Imaging

/// `segviz phantom`: writes a synthetic abdominal CT data set in a real layout.
struct Phantom: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write synthetic abdominal CT phantoms (liver, spleen and surrounding anatomy) as an MSD or BTCV data set.",
        discussion: """
        Every image contains both organs; only the --annotate ones are labelled. MSD layout numbering: liver set 1 liver,
        2 tumour; spleen set 1 spleen; all: 1 liver, 2 tumour, 3 spleen. BTCV numbering: 1 spleen, 2/3 kidneys, 6 liver,
        7 stomach, 8 aorta, 9 IVC. The --labels mapping to train on the set is printed and stored in segviz-phantom.json.
        """
    )

    @Option(help: "Output folder (created).") var out: String
    @Option(help: "Number of labelled cases.") var cases: Int = 8
    @Option(help: "Unlabelled test images (MSD imagesTs only).") var testCases: Int = 0
    @Option(help: "Annotated organs: liver, spleen or all.") var annotate: String = "all"
    @Option(help: "Layout: msd or btcv.") var layout: String = "msd"
    @Option(help: "Seed; case n depends only on the seed and n.") var seed: UInt64 = 1
    @Option(help: "Voxels along i,j,k, e.g. 96,96,64.") var size: String = "96,96,64"
    @Option(help: "Voxel size in mm along i,j,k (one number for all), e.g. 3 or 3,3,3.") var spacing: String = "3"
    @Flag(help: "Scan each case on a random scanner-like grid (0.6-1 mm pixels, 1-5 mm slices, dome-only to abdomen-pelvis) and resample it to --spacing (--size is then ignored).")
    var scanner = false
    @Flag(help: "With --scanner: write the scanner grid itself (512 x 512 x slices), without resampling.") var native = false
    @Option(help: "Contrast phase of every case: unenhanced, arterial, portal-venous or delayed (default: random per case).") var phase: String?

    func run() throws {
        guard let ann = PhantomAnnotation(rawValue: annotate) else {
            throw ValidationError("--annotate must be liver, spleen or all, not \"\(annotate)\"")
        }
        guard let lay = PhantomLayout(rawValue: layout) else { throw ValidationError("--layout must be msd or btcv, not \"\(layout)\"") }
        guard cases >= 1, testCases >= 0 else { throw ValidationError("--cases must be at least 1 and --test-cases at least 0") }
        let d = try parseTriple(size, option: "--size")
        let dims = d.map { Int($0) }
        guard d.allSatisfy({ $0 >= 8 && $0 <= 1024 && $0 == $0.rounded() }) else {
            throw ValidationError("--size needs three whole numbers 8...1024, got \"\(size)\"")
        }
        let sp = try parseTriple(spacing, option: "--spacing")
        guard sp.allSatisfy({ $0 > 0.2 && $0 < 20 }) else { throw ValidationError("--spacing must be 0.2...20 mm, got \"\(spacing)\"") }
        guard !native || scanner else { throw ValidationError("--native needs --scanner") }
        var gen = PhantomGenerator(dims: dims, spacing: SIMD3(sp[0], sp[1], sp[2]), scanner: scanner)
        gen.native = native
        if let phase {
            guard let p = ContrastPhase(rawValue: phase) else {
                throw ValidationError("--phase must be one of \(ContrastPhase.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(phase)\"")
            }
            gen.phase = p
        }
        let writer = PhantomDatasetWriter(generator: gen, layout: lay, annotate: ann, seed: seed)
        let dir = URL(fileURLWithPath: out)
        let bar = ProgressReporter(label: "phantom", total: cases + testCases)
        _ = try writer.write(to: dir, cases: cases, testCases: testCases) { done, _ in bar.update(done) }
        bar.finish()
        print("wrote \(cases) labelled case(s)\(testCases > 0 ? " and \(testCases) test image(s)" : "") to \(dir.path) (layout \(lay.rawValue), annotate \(ann.rawValue), seed \(seed))")
        print("train with: --labels \(writer.labelMapping)")
    }
}

/// Parses "a,b,c" or "a" (repeated) into three numbers; the error names the option.
func parseTriple(_ text: String, option: String) throws -> [Double] {
    let parts = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
    guard parts.count == 1 || parts.count == 3, parts.allSatisfy({ $0 != nil && $0!.isFinite }) else {
        throw ValidationError("\(option) needs one number or three comma-separated numbers, got \"\(text)\"")
    }
    let v = parts.map { $0! }
    return v.count == 1 ? [v[0], v[0], v[0]] : v
}

/// A progress bar on a terminal, plain log lines otherwise (stderr).
final class ProgressReporter: @unchecked Sendable {
    private let label: String, total: Int
    private let tty = isatty(2) != 0
    private var lastLine = Date.distantPast
    private let start = Date()

    init(label: String, total: Int) {
        self.label = label
        self.total = max(total, 1)
    }

    /// Reports `done` of `total`, with an optional status text.
    func update(_ done: Int, status: String = "") {
        let elapsed = Date().timeIntervalSince(start)
        if tty {
            let width = 30, filled = width * min(done, total) / total
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done)/\(total) \(String(format: "%.0fs", elapsed)) \(status)\u{1B}[K".utf8))
        } else if done == total || Date().timeIntervalSince(lastLine) >= 5 {
            lastLine = Date()
            FileHandle.standardError.write(Data("\(label): \(done)/\(total) \(String(format: "%.1fs", elapsed)) \(status)\n".utf8))
        }
    }

    /// Ends the bar's line.
    func finish() { if tty { FileHandle.standardError.write(Data("\n".utf8)) } }
}
