import Foundation

/// A tool's refusal of its input or environment; the description is the whole message.
public enum ToolError: Error, CustomStringConvertible {
    /// A bad argument or an unusable address, with what is wrong.
    case invalid(String)
    /// What went wrong, for the user.
    public var description: String {
        switch self { case .invalid(let m): m }
    }
}

/// Parses HOST:PORT or a URL http://HOST:PORT.
public func parseHostPort(_ text: String) throws -> (String, Int) {
    var t = text
    for prefix in ["http://", "https://"] where t.hasPrefix(prefix) { t = String(t.dropFirst(prefix.count)) }
    if let slash = t.firstIndex(of: "/") { t = String(t[..<slash]) }
    guard let colon = t.lastIndex(of: ":"), let port = Int(t[t.index(after: colon)...]), (0...65535).contains(port) else {
        throw ToolError.invalid("--listen needs HOST:PORT, got \"\(text)\"")
    }
    return (String(t[..<colon]), port)
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw CocoaError(.fileWriteUnknown) }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard ok else { throw CocoaError(.fileWriteUnknown) }
    return Int(UInt16(bigEndian: addr.sin_port))
}
