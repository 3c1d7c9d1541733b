import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on an aggregator's state folder: `flock` on `STATE/aggregator.lock`, which holds the
/// holder's pid. The kernel releases it when the process exits or crashes, so a stale lock file never blocks a
/// restart; a second aggregator on the same folder is refused, naming the holder.
public final class StateFolderLock: Sendable {
    /// The lock file's name inside the state folder.
    public static let fileName = "aggregator.lock"
    /// The open lock file (closed, and so unlocked, on deinit or exit).
    private let fd: Int32
    /// The lock file's path.
    public let path: String

    /// Takes the lock of `stateDirectory` (which must exist); throws ``StartupRefusal/stateFolderLocked`` when
    /// another process holds it.
    public init(stateDirectory: String) throws {
        path = URL(fileURLWithPath: stateDirectory).appendingPathComponent(Self.fileName).path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw FederationError.file(path: path, problem: "cannot open the lock file: \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let e = errno
            var buf = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buf, buf.count, 0)
            close(fd)
            guard e == EWOULDBLOCK else {
                throw FederationError.file(path: path, problem: "cannot lock: \(String(cString: strerror(e)))")
            }
            let text = String(decoding: buf.prefix(max(0, n)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw StartupRefusal.stateFolderLocked(path: stateDirectory, pid: Int32(text))
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        self.fd = fd
    }

    deinit { close(fd) }
}
