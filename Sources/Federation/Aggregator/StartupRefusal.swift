import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why an aggregator or node refuses to start, checked before anything is created on disk.
public enum StartupRefusal: Error, Equatable, CustomStringConvertible {
    /// Another process (pid, when its lock file names one) holds the state folder's lock.
    case stateFolderLocked(path: String, pid: Int32?)
    /// The listen address cannot be bound.
    case addressInUse(address: String, reason: String)
    /// The federation file pins an https URL but the aggregator was given no certificate to serve it.
    case httpsWithoutCertificate(url: String)
    /// A URL given on the command line changes the scheme of the federation file's pinned https URL.
    case downgradedURL(pinned: String, given: String)

    public var description: String {
        switch self {
        case let .stateFolderLocked(p, pid):
            return "\(p): the state folder is in use by another aggregator" + (pid.map { " (pid \($0))" } ?? "")
                + "; stop it first, or give another --state"
        case let .addressInUse(a, r):
            return "cannot listen on \(a): \(r); stop what uses it, or give another --listen (nothing was created)"
        case let .httpsWithoutCertificate(url):
            return "aggregator.url: the federation file pins \(url) (https), so the aggregator serves only HTTPS: "
                + "give --tls-cert and --tls-key (the certificate the file pins)"
        case let .downgradedURL(pinned, given):
            return "--aggregator: \(given) is not https, but the federation file pins \(pinned) (aggregator.url); "
                + "a node talks to a pinned https aggregator over https only"
        }
    }

    /// Refuses a plain-HTTP aggregator when the federation pins https.
    public static func checkTLS(federation: FederationFile, serving tls: Bool) throws {
        if federation.aggregator.url.lowercased().hasPrefix("https://"), !tls {
            throw StartupRefusal.httpsWithoutCertificate(url: federation.aggregator.url)
        }
    }

    /// The URL a node uses: `override` (from `--aggregator`) unless it would leave the pinned https.
    public static func nodeURL(federation: FederationFile, override: String?) throws -> String {
        guard let override else { return federation.aggregator.url }
        if federation.aggregator.url.lowercased().hasPrefix("https://"), !override.lowercased().hasPrefix("https://") {
            throw StartupRefusal.downgradedURL(pinned: federation.aggregator.url, given: override)
        }
        return override
    }

    /// Binds and releases `host:port` (with SO_REUSEADDR, as the server will) to learn, before anything is created,
    /// whether the aggregator can listen there. Port 0 always passes.
    public static func checkListen(host: String, port: Int) throws {
        guard port != 0 else { return }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var res: UnsafeMutablePointer<addrinfo>?
        let address = "\(host):\(port)"
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let info = res else {
            throw StartupRefusal.addressInUse(address: address, reason: "the host name does not resolve")
        }
        defer { freeaddrinfo(res) }
        let s = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard s >= 0 else { return }  // cannot test here; the server will report it
        defer { close(s) }
        var one: Int32 = 1
        _ = setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if bind(s, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 || listen(s, 1) != 0 {
            throw StartupRefusal.addressInUse(address: address, reason: String(cString: strerror(errno)).lowercased())
        }
    }
}
