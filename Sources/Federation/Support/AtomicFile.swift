import Foundation

/// Crash-safe file writes: a temporary file in the same folder, flushed, then renamed over the target.
public enum AtomicFile {
    /// Writes `contents` to `path` atomically with permissions `mode`.
    public static func write(path: String, contents: Data, mode: Int = 0o644) throws {
        let url = URL(fileURLWithPath: path)
        let tmp = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw FederationError.file(path: path, problem: "cannot create temporary file: \(errnoText())") }
        do {
            try writeAll(fd: fd, data: contents, path: path)
            guard fsync(fd) == 0 else { throw FederationError.file(path: path, problem: "fsync failed: \(errnoText())") }
            close(fd)
        } catch {
            close(fd)
            unlink(tmp.path)
            throw error
        }
        guard rename(tmp.path, path) == 0 else {
            let e = errnoText()
            unlink(tmp.path)
            throw FederationError.file(path: path, problem: "cannot rename into place: \(e)")
        }
    }

    /// Creates `path` exclusively (failing if it exists) with `mode`, writes and syncs `contents`.
    public static func createExclusive(path: String, contents: Data, mode: Int) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw FederationError.file(path: path, problem: "cannot create: \(errnoText())") }
        defer { close(fd) }
        do {
            try writeAll(fd: fd, data: contents, path: path)
            guard fsync(fd) == 0 else { throw FederationError.file(path: path, problem: "fsync failed: \(errnoText())") }
        } catch {
            unlink(path)
            throw error
        }
    }

    private static func writeAll(fd: Int32, data: Data, path: String) throws {
        try data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FederationError.file(path: path, problem: "write failed: \(errnoText())")
                }
                off += n
            }
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
