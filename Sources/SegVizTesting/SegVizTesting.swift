// Test support shared by every test target and the fuzz targets (as HummingbirdTesting is for Hummingbird):
// where the shared data lives, fresh temporary folders, and subprocesses. Not part of the SegVizKit product.
import Foundation

/// The project's shared data and fixtures (read-only): `$SEGVIZ_SHARED` when set, else `shared/` beside the
/// repository (`<repo>/../shared`).
public enum SharedData {
    /// The repository root (this file is `Sources/SegVizTesting/SegVizTesting.swift`).
    public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The shared folder.
    public static var root: URL {
        if let env = ProcessInfo.processInfo.environment["SEGVIZ_SHARED"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }

    /// `shared/data`: real images.
    public static var data: URL { root.appendingPathComponent("data") }

    /// `shared/fixtures`: reference outputs of other implementations.
    public static var fixtures: URL { root.appendingPathComponent("fixtures") }

    /// The real CT (TotalSegmentator example CT, Apache-2.0 / CC BY 4.0; see shared/data/README.md).
    public static var realCT: URL { data.appendingPathComponent("real-ct-abdomen-3mm.nii.gz") }
}

/// Fresh temporary folders.
public enum TemporaryDirectory {
    /// A new, empty folder `segviz-PREFIX-TAG-UUID` in the system's temporary folder; `tag` keeps only letters
    /// and digits (pass `#function` to name the test).
    public static func make(prefix: String = "test", tag: String = "") throws -> URL {
        let name = tag.filter { $0.isLetter || $0.isNumber }
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent(["segviz", prefix, name, UUID().uuidString].filter { !$0.isEmpty }.joined(separator: "-"))
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// What a finished subprocess left.
public struct SubprocessResult: Sendable {
    /// Exit status.
    public let status: Int32
    /// Standard output (with standard error when they were merged).
    public let output: String
    /// Standard error (empty when merged into `output`).
    public let error: String
}

/// A subprocess that failed (non-zero exit), with its standard error.
public struct SubprocessFailure: Error, CustomStringConvertible {
    /// The command line.
    public let command: [String]
    /// Exit status.
    public let status: Int32
    /// Its standard error.
    public let message: String

    public var description: String { "\(command.joined(separator: " ")) exited \(status): \(message)" }
}

/// Runs commands to completion.
public enum Subprocess {
    /// Runs `arguments` (looked up on PATH) in `directory`; with `mergeOutput`, standard error goes to `output`.
    public static func run(_ arguments: [String], in directory: String? = nil, mergeOutput: Bool = false) throws -> SubprocessResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = mergeOutput ? nil : Pipe()
        p.standardOutput = out
        p.standardError = err ?? out
        try p.run()
        // Drain stderr on its own thread so that neither pipe can fill and block the child.
        let errData = ErrorBuffer()
        let drained = DispatchSemaphore(value: 0)
        if let err {
            Thread.detachNewThread { errData.set(err.fileHandleForReading.readDataToEndOfFile()); drained.signal() }
        } else {
            drained.signal()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        p.waitUntilExit()
        return SubprocessResult(status: p.terminationStatus, output: String(decoding: o, as: UTF8.self),
                                error: String(decoding: errData.get(), as: UTF8.self))
    }

    /// Runs `python3 -c script args...`; returns standard output, throws ``SubprocessFailure`` with standard
    /// error when it fails.
    public static func python(_ script: String, _ arguments: [String] = []) throws -> String {
        let r = try run(["python3", "-c", script] + arguments)
        guard r.status == 0 else { throw SubprocessFailure(command: ["python3", "-c", "<script>"] + arguments, status: r.status, message: r.error) }
        return r.output
    }
}

/// Standard error collected by the draining thread; `lock` guards `data` (hence @unchecked Sendable).
private final class ErrorBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ d: Data) { lock.withLock { data = d } }
    func get() -> Data { lock.withLock { data } }
}
