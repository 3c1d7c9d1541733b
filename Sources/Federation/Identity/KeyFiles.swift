import Foundation
import SecureAggregation
import Tensor

/// Identity key files: `NAME.pub` (minisign public-key format) and `NAME.key` (minisign's unencrypted
/// secret-key format, mode 0600).
public enum KeyFiles {
    /// Paths of a key pair in `directory`.
    public static func paths(id: String, directory: String) -> (publicKey: String, secretKey: String) {
        let dir = URL(fileURLWithPath: directory)
        return (dir.appendingPathComponent("\(id).pub").path, dir.appendingPathComponent("\(id).key").path)
    }

    /// Checks that an id is safe as a file name and a protocol identity.
    public static func validate(id: String) throws(FederationError) {
        let ok = !id.isEmpty && id.count <= 64 && id.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F
        }
        guard ok else {
            throw FederationError.invalidNodeID(id: id)
        }
    }

    /// Generates a fresh Ed25519 identity and writes `id.pub` and `id.key` into `directory`.
    /// - Throws: if either file exists (never overwrites) or cannot be written.
    @discardableResult
    public static func generate(id: String, directory: String) throws -> Minisign.PublicKey {
        try validate(id: id)
        let (pubPath, keyPath) = paths(id: id, directory: directory)
        let fm = FileManager.default
        for p in [pubPath, keyPath] where fm.fileExists(atPath: p) {
            throw FederationError.keyExists(path: p)
        }
        do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw FederationError.cannotCreateFolder(path: directory, reason: error.localizedDescription)
        }
        let key = IdentityKey.generate()
        var record = try Minisign.SecretKeyFile(keyID: key.publicKey.keyID, secretKey: key.secretBytes)
        var contents = Data(record.fileText(blake2b256: FedCrypto.blake2b256).utf8)
        wipe(&record.secretKey)
        defer { contents.resetBytes(in: 0..<contents.count) }
        // The secret key is created exclusively with mode 0600 before any byte is written.
        try AtomicFile.createExclusive(path: keyPath, contents: contents, mode: 0o600)
        do {
            try AtomicFile.write(path: pubPath, contents: Data(key.publicKey.fileText.utf8), mode: 0o644)
        } catch {
            try? fm.removeItem(atPath: keyPath)
            throw error
        }
        return key.publicKey
    }

    /// Reads a public key file (or a bare base64 line).
    public static func loadPublicKey(path: String) throws(FederationError) -> Minisign.PublicKey {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw FederationError.unreadable(path: path, kind: .publicKey, reason: error.localizedDescription)
        }
        do throws(Minisign.FormatError) { return try Minisign.PublicKey(text: text) } catch {
            throw FederationError.malformedKey(path: path, kind: .publicKey, problem: error)
        }
    }

    /// Reads a secret key file, refusing one that group or others can read (checked on the opened file, so
    /// the file checked is the file read) or that is not a regular file. The file's bytes are wiped after use.
    public static func loadSecretKey(path: String) throws(FederationError) -> IdentityKey {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw FederationError.unreadable(path: path, kind: .secretKey, reason: AtomicFile.errnoText())
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw FederationError.unreadable(path: path, kind: .secretKey, reason: AtomicFile.errnoText())
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw FederationError.notARegularFile(path: path, kind: .secretKey)
        }
        let mode = Int(st.st_mode & 0o777)
        if mode & 0o077 != 0 {
            throw FederationError.keyReadableByOthers(path: path, mode: mode)
        }
        var bytes = [UInt8](repeating: 0, count: 4096)
        defer { wipe(&bytes) }
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else {
                throw FederationError.unreadable(path: path, kind: .secretKey, reason: AtomicFile.errnoText())
            }
            if n == 0 { break }
            count += n
        }
        guard count < bytes.count else { throw FederationError.tooLarge(path: path, kind: .secretKey, limit: bytes.count - 1) }
        do throws(Minisign.FormatError) {
            var f = try Minisign.SecretKeyFile(text: String(decoding: bytes[0..<count], as: UTF8.self),
                                               blake2b256: FedCrypto.blake2b256)
            defer { wipe(&f.secretKey) }
            return try IdentityKey(keyID: f.keyID, secretKey: f.secretKey)
        } catch {
            throw FederationError.malformedKey(path: path, kind: .secretKey, problem: error)
        }
    }
}
