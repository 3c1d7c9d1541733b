import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL

/// Why a node could not talk to the aggregator, in plain words naming the URL: never the raw text of the
/// network stack (BoringSSL's, with build paths). A TLS failure against the pinned certificate is fatal (the
/// node exits; retrying cannot help); anything else is retried until `--give-up-after`.
public enum ConnectionProblem: Error, Equatable, CustomStringConvertible {
    /// The aggregator did not answer at `url` (refused, unreachable, timed out, connection closed).
    case unreachable(url: String, reason: String)
    /// TLS with `url` failed: the server's certificate is not the pinned one, or it does not speak TLS.
    case tls(url: String, reason: String)

    /// Classifies `error` from a request to `url`.
    public init(_ error: Error, url: String) {
        if Self.isTLS(error) {
            self = .tls(url: url, reason: Self.plainTLSReason(String(describing: error)))
        } else {
            self = .unreachable(url: url, reason: Self.plainReason(error))
        }
    }

    /// The reason alone.
    public var reason: String {
        switch self {
        case let .unreachable(_, r), let .tls(_, r): return r
        }
    }

    public var description: String {
        switch self {
        case let .unreachable(url, r): return "cannot reach the aggregator at \(url): \(r)"
        case let .tls(url, r):
            return "TLS with the aggregator at \(url) failed (\(r)): the server does not present the certificate pinned in the "
                + "federation file (aggregator.tlsCertificate), or does not speak TLS; not retrying"
        }
    }

    static func isTLS(_ error: Error) -> Bool {
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError { return true }
        let text = String(describing: error)
        return text.contains("SSL") || text.contains("handshake")
    }

    /// "certificate verify failed" from "...:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at /build/.../handshake.cc:393".
    static func plainTLSReason(_ text: String) -> String {
        let tokens = text.split(whereSeparator: { !($0.isUppercase || $0 == "_" || $0.isNumber) })
            .filter { $0.count > 6 && $0.contains("_") && !$0.hasPrefix("OPENSSL") }
        if let t = tokens.last { return t.lowercased().replacingOccurrences(of: "_", with: " ") }
        return "handshake failed"
    }

    static func plainReason(_ error: Error) -> String {
        if let e = error as? HTTPClientError {
            switch e {
            case .connectTimeout: return "connection timed out"
            case .deadlineExceeded, .readTimeout: return "no answer in time"
            case .remoteConnectionClosed: return "the connection was closed"
            default: break
            }
        }
        let text = String(describing: error)
        if let r = text.range(of: #"errno: (\d+)"#, options: .regularExpression),
           let code = Int32(text[r].dropFirst("errno: ".count)) {
            return String(cString: strerror(code)).lowercased()
        }
        if text.contains("onnection refused") { return "connection refused" }
        // Keep it to one line without file paths.
        let line = text.split(separator: "\n").first.map(String.init) ?? text
        return line.replacingOccurrences(of: #" at /[^ ]+"#, with: "", options: .regularExpression)
    }
}
