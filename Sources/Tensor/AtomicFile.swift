import Foundation

/// Why a file could not be written into place; names the file.
public struct AtomicFileError: Error, CustomStringConvertible, Equatable {
    /// The file that was to be written.
    public let path: String
    /// What failed (create, write, fsync, rename) and the system's reason.
    public let problem: String

    public var description: String { "\(path): \(problem)" }
}

/// Crash-safe file writes, the one way SegViz puts a file into place: the bytes go to a temporary file in the
/// same folder (`.NAME.UUID.tmp` plus an optional suffix), which is then renamed over the target, so a reader
/// sees the old file or the whole new one, never a half-written one; a failed write leaves nothing behind.
public enum AtomicFile {
    /// Writes `contents` to `path` atomically with permissions `mode` (flushed to disk before the rename).
    public static func write(path: String, contents: Data, mode: Int = 0o644) throws(AtomicFileError) {
        let tmp = temporaryPath(for: path)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw AtomicFileError(path: path, problem: "cannot create temporary file: \(errnoText())") }
        do throws(AtomicFileError) {
            try writeAll(fd: fd, data: contents, path: path)
            guard fsync(fd) == 0 else { throw AtomicFileError(path: path, problem: "fsync failed: \(errnoText())") }
            close(fd)
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        try commit(temporary: tmp, to: path)
    }

    /// A fresh temporary path beside `path` for a writer that cannot take bytes (e.g. a C library that writes
    /// the file itself); `suffix` keeps an extension the writer needs. Finish with ``commit(temporary:to:)``.
    public static func temporaryPath(for path: String, suffix: String = "") -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp\(suffix)").path
    }

    /// Renames the finished temporary file over `path`; on failure removes the temporary file.
    public static func commit(temporary tmp: String, to path: String) throws(AtomicFileError) {
        guard rename(tmp, path) == 0 else {
            let e = errnoText()
            unlink(tmp)
            throw AtomicFileError(path: path, problem: "cannot rename into place: \(e)")
        }
    }

    /// Creates `path` exclusively (failing if it exists) with `mode`, writes and syncs `contents`.
    public static func createExclusive(path: String, contents: Data, mode: Int) throws(AtomicFileError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw AtomicFileError(path: path, problem: "cannot create: \(errnoText())") }
        defer { close(fd) }
        do throws(AtomicFileError) {
            try writeAll(fd: fd, data: contents, path: path)
            guard fsync(fd) == 0 else { throw AtomicFileError(path: path, problem: "fsync failed: \(errnoText())") }
        } catch {
            unlink(path)
            throw error
        }
    }

    private static func writeAll(fd: Int32, data: Data, path: String) throws(AtomicFileError) {
        var failure: AtomicFileError?
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = AtomicFileError(path: path, problem: "write failed: \(errnoText())")
                    return
                }
                off += n
            }
        }
        if let failure { throw failure }
    }

    /// The system's text for the current `errno`.
    public static func errnoText() -> String { String(cString: strerror(errno)) }
}
