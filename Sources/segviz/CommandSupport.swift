import ArgumentParser
import Foundation

/// Writes a timestamped log line to standard error (standard output stays for results).
func logLine(_ component: String, _ message: String) {
    let t = ISO8601DateFormatter().string(from: Date())
    FileHandle.standardError.write(Data("\(t) [\(component)] \(message)\n".utf8))
}

/// Turns any error into a clean message and a non-zero exit (no stack traces for users).
func failing<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as ExitCode { throw e } catch let e as CleanExit { throw e } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}

/// Async form of ``failing(_:)``.
func failingAsync<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let e as ExitCode { throw e } catch let e as CleanExit { throw e } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}
