import Foundation
import Hummingbird
import NIOCore

/// The aggregator's HTTP API (documented in `openapi.yaml`): nodes connect out to it, pull the signed global
/// model and the round's announcement, post protocol messages and long-poll for the messages addressed to
/// them. Every `/v1` request must be signed by a federation node (see ``RequestAuth``).
public struct AggregatorServer: Sendable {
    let coordinator: Coordinator
    let verifier: RequestVerifier
    let maxBodyBytes: Int
    let longPollSeconds: Double
    let log: @Sendable (String) -> Void
    let statusPage: @Sendable () async -> String
    /// Protocol messages read and processed at once (each may be as large as the model).
    let intake = IntakeLimiter(slots: 2)

    /// Creates the server for `coordinator`; `maxBodyBytes` bounds every request body (413 above it).
    public init(coordinator: Coordinator, federation: FederationFile, maxBodyBytes: Int, longPollSeconds: Double = 20,
                log: @escaping @Sendable (String) -> Void, statusPage: @escaping @Sendable () async -> String) throws {
        self.coordinator = coordinator
        verifier = try RequestVerifier(federation: federation)
        self.maxBodyBytes = maxBodyBytes
        self.longPollSeconds = longPollSeconds
        self.log = log
        self.statusPage = statusPage
    }

    /// Builds the router.
    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: MethodCheck([("/", [.get]), ("/v1/status", [.get]), ("/v1/model", [.get]),
                                            ("/v1/model/signature", [.get]), ("/v1/rounds/:round/:session/messages", [.post]),
                                            ("/v1/rounds/:round/:session/decline", [.post]),
                                            ("/v1/rounds/:round/:session/privacy", [.post]),
                                            ("/v1/rounds/:round/:session/messages/:index", [.get])]))
        router.get("/") { _, _ -> Response in
            let html = await statusPage()
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: html)))
        }
        router.get("/v1/status") { request, context -> Response in
            _ = try await authenticate(request, context)
            let a = await coordinator.announcement()
            let data = try JSONEncoder().encode(a)
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        router.get("/v1/model") { request, context -> Response in
            _ = try await authenticate(request, context)
            let files = try await coordinator.currentModelFiles()
            return Response(status: .ok, headers: [.contentType: "application/octet-stream"],
                            body: .init(byteBuffer: ByteBuffer(bytes: files.bytes)))
        }
        router.get("/v1/model/signature") { request, context -> Response in
            _ = try await authenticate(request, context)
            let files = try await coordinator.currentModelFiles()
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: files.signature)))
        }
        router.post("/v1/rounds/:round/:session/messages") { request, context -> Response in
            let round = try PathParameters.count(context, "round")
            let session = try PathParameters.session(context)
            return try await intake.run {
                let (node, body) = try await authenticate(request, context)
                try await refusalsAsHTTP("message", from: node) {
                    try await coordinator.receive(node: node, round: round, session: session, bytes: body)
                }
                return Response(status: .accepted)
            }
        }
        router.post("/v1/rounds/:round/:session/decline") { request, context -> Response in
            let round = try PathParameters.count(context, "round")
            let session = try PathParameters.session(context)
            let (node, body) = try await authenticate(request, context)
            guard let reason = DeclineReason(body: body) else {
                throw HTTPError(.badRequest, message: "decline body must be {\"reason\": one of "
                                + DeclineReason.allCases.map(\.rawValue).joined(separator: ", ") + "}")
            }
            try await refusalsAsHTTP(from: node) {
                try await coordinator.decline(node: node, round: round, session: session, reason: reason)
            }
            return Response(status: .accepted)
        }
        router.post("/v1/rounds/:round/:session/privacy") { request, context -> Response in
            let round = try PathParameters.count(context, "round")
            let session = try PathParameters.session(context)
            let (node, body) = try await authenticate(request, context)
            let attestation: PrivacyAttestation
            do throws(PrivacyAttestation.Problem) { attestation = try PrivacyAttestation(body: body) } catch {
                throw HTTPError(.badRequest, message: "\(error)")
            }
            try await refusalsAsHTTP("privacy attestation", from: node) {
                try await coordinator.attest(node: node, round: round, session: session, attestation: attestation)
            }
            return Response(status: .accepted)
        }
        router.get("/v1/rounds/:round/:session/messages/:index") { request, context -> Response in
            let round = try PathParameters.count(context, "round")
            let session = try PathParameters.session(context)
            let index = try PathParameters.count(context, "index")
            let (node, _) = try await authenticate(request, context)
            let m = try await refusalsAsHTTP(from: node) {
                try await coordinator.nextMessage(node: node, round: round, session: session, index: index, timeout: longPollSeconds)
            }
            guard let m else { return Response(status: .noContent) }
            return Response(status: .ok, headers: [.contentType: "application/octet-stream"],
                            body: .init(byteBuffer: ByteBuffer(bytes: m)))
        }
        return router
    }

    /// Runs `body`, answering a coordinator's refusal with its HTTP status and reason (logged as a refused `what`
    /// from `node` when `what` is given).
    func refusalsAsHTTP<T>(_ what: String? = nil, from node: String, _ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let r as Coordinator.Refusal {
            if let what { log("refused \(what) from \(node): \(r.reason)") }
            throw HTTPError(HTTPResponse.Status(code: r.status), message: r.reason)
        }
    }

    /// Reads the body (bounded) and checks the request's signature; returns the node id and the body.
    func authenticate(_ request: Request, _ context: BasicRequestContext) async throws -> (String, [UInt8]) {
        var request = request
        let buffer: ByteBuffer
        do { buffer = try await request.collectBody(upTo: maxBodyBytes) } catch {
            log("rejected \(request.method) \(request.uri.path): body larger than \(maxBodyBytes) bytes")
            throw HTTPError(.contentTooLarge, message: "request body exceeds \(maxBodyBytes) bytes")
        }
        let body = Array(buffer.readableBytesView)
        let headers = request.headers
        do {
            let node = try await verifier.authenticate(
                method: request.method.rawValue, path: request.uri.string,
                header: { name in
                    let key = name.lowercased()
                    return headers.first { $0.name.canonicalName == key }?.value
                }, body: body)
            await coordinator.noteContact(node: node)
            return (node, body)
        } catch let r as RequestAuth.Rejection {
            log("rejected \(request.method) \(request.uri.path): \(r.reason)")
            throw HTTPError(r.status == 403 ? .forbidden : .unauthorized, message: r.reason)
        }
    }
}
