import Foundation

/// A child process whose standard error goes to a log file (and, line by line, to `echo`).
final class ChildProcess: @unchecked Sendable {  // Immutable after init; `done` (a semaphore) signals the exit.
    let process = Process()
    private let done = DispatchSemaphore(value: 0)

    init(_ executable: String, _ arguments: [String], log: URL, echo: (@Sendable (String) -> Void)? = nil) throws {
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let file = try FileHandle(forWritingTo: log)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = file
        let pipe = Pipe()
        process.standardError = pipe
        let buffer = LineBuffer()
        pipe.fileHandleForReading.readabilityHandler = { h in
            let d = h.availableData
            if d.isEmpty { h.readabilityHandler = nil; return }
            file.write(d)
            if let echo { for line in buffer.feed(d) { echo(line) } }
        }
        process.terminationHandler = { [done] _ in done.signal() }
        try process.run()
    }

    /// Waits for exit; returns the exit status.
    func wait() async -> Int32 {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { [done] in done.wait(); done.signal(); c.resume() }
        }
        return process.terminationStatus
    }

    /// Asks the process to stop (SIGTERM) if it still runs.
    func terminate() { if process.isRunning { process.terminate() } }
}

/// Splits a byte stream into lines.
final class LineBuffer: @unchecked Sendable {  // `lock` guards `pending`.
    private var pending = Data()
    private let lock = NSLock()
    func feed(_ d: Data) -> [String] {
        lock.lock(); defer { lock.unlock() }
        pending.append(d)
        var lines: [String] = []
        while let nl = pending.firstIndex(of: 0x0A) {
            lines.append(String(decoding: pending[pending.startIndex..<nl], as: UTF8.self))
            pending.removeSubrange(pending.startIndex...nl)
        }
        return lines
    }
}
