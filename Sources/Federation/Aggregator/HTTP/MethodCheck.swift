import Hummingbird

/// Answers 405 Method Not Allowed, with an `Allow` header, for a known path asked with a method it does not
/// serve (Hummingbird's router would say 404, as for a path that does not exist). Unknown paths stay 404.
struct MethodCheck<Context: RequestContext>: RouterMiddleware {
    /// Path patterns (`:name` matches one segment) and the methods each serves.
    let routes: [(pattern: [Substring], methods: [HTTPRequest.Method])]

    init(_ routes: [(String, [HTTPRequest.Method])]) {
        self.routes = routes.map { (Self.segments($0.0), $0.1) }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do { return try await next(request, context) } catch let e as HTTPError where e.status == .notFound {
            let path = Self.segments(request.uri.path)
            let allowed = routes.filter { Self.matches($0.pattern, path) }.flatMap(\.methods)
            guard !allowed.isEmpty, !allowed.contains(request.method) else { throw e }
            throw HTTPError(.methodNotAllowed, headers: [.allow: allowed.map(\.rawValue).joined(separator: ", ")],
                            message: "\(request.method) is not served at this path; allowed: \(allowed.map(\.rawValue).joined(separator: ", "))")
        }
    }

    static func segments(_ path: String) -> [Substring] { path.split(separator: "/", omittingEmptySubsequences: true) }

    static func matches(_ pattern: [Substring], _ path: [Substring]) -> Bool {
        pattern.count == path.count && zip(pattern, path).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
    }
}
