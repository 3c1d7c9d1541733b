import Foundation
import Hummingbird
import NIOCore
@testable import Federation

/// Attacker code for issue 15's tests: an aggregator that holds the real aggregator key and runs the honest
/// round logic (``Coordinator``), but answers chosen nodes' `/v1/status`, `/v1/model` and `/v1/model/signature`
/// with another validly signed model (and an announcement naming it): model inconsistency (Pasquini et al.,
/// CCS 2022) when different nodes get different models, rollback when they get an older one.
struct MaliciousAggregator {
    /// What node `node` is handed instead of the current model while the coordinator is at round `round`
    /// (nil: the honest answer). The model round is the one its signature's trusted comment names; with
    /// `announce` false the status keeps naming the honest model (only the model download is swapped).
    typealias Forgery = @Sendable (_ node: String, _ round: Int) -> (file: SignedModelFile, modelRound: Int, announce: Bool)?

    struct Responder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == BasicRequestContext {
        typealias Context = BasicRequestContext
        let inner: Inner
        let coordinator: Coordinator
        let forgery: Forgery

        func respond(to request: Request, context: Context) async throws -> Response {
            let node = request.headers.first { $0.name.canonicalName == RequestAuth.nodeHeader.lowercased() }?.value
            let path = request.uri.path
            let answer = try await inner.respond(to: request, context: context)  // authenticates as usual
            let honest = await coordinator.announcement()
            guard answer.status == .ok, let node, let f = forgery(node, honest.round) else { return answer }
            switch path {
            case "/v1/status" where f.announce:
                var a = honest
                a.modelRound = f.modelRound
                a.modelHash = hex(FedCrypto.blake2b256(f.file.bytes))
                return Response(status: .ok, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(a))))
            case "/v1/model":
                return Response(status: .ok, headers: [.contentType: "application/octet-stream"],
                                body: .init(byteBuffer: ByteBuffer(bytes: f.file.bytes)))
            case "/v1/model/signature":
                return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                                body: .init(byteBuffer: ByteBuffer(string: f.file.signature)))
            default: return answer
            }
        }
    }

    /// Another model of `federation` (every value scaled by `scale`), signed by the aggregator key as global
    /// model `modelRound`: what a malicious aggregator hands the nodes it does not target.
    static func craftedModel(from model: FederatedModel, federation: FederationFile, modelRound: Int, scale: Float,
                             key: IdentityKey) throws -> SignedModelFile {
        try sign(model: model.copy(values: model.values.map { $0 * scale }), federation: federation, modelRound: modelRound, key: key)
    }

    /// `model` encoded and signed by `key` as global model `modelRound`.
    static func sign(model crafted: FederatedModel, federation: FederationFile, modelRound: Int, key: IdentityKey) throws -> SignedModelFile {
        let bytes = ModelArtifact.encode(model: crafted, federation: federation, round: modelRound, participants: [],
                                         previousModelHash: "", previousRecordHash: "")
        let sig = try ModelSignature.sign(fileBytes: bytes, key: key, trustedComment: RoundContext.trustedComment(
            modelRound: modelRound, hashHex: hex(FedCrypto.blake2b256(bytes))))
        return SignedModelFile(bytes: bytes, signature: sig.fileText)
    }

    /// Serves `coordinator` on 127.0.0.1:`port` through the forging responder and drives its deadlines, until
    /// every round is done (plus a second so nodes see the end) or the task is cancelled.
    static func run(coordinator: Coordinator, federation: FederationFile, port: Int, forgery: @escaping Forgery,
                    log: @escaping @Sendable (String) -> Void) async throws {
        let server = try AggregatorServer(coordinator: coordinator, federation: federation, maxBodyBytes: 64 << 20,
                                          log: log, statusPage: { "" })
        let responder = Responder(inner: server.router().buildResponder(), coordinator: coordinator, forgery: forgery)
        // As the real service: HummingbirdCore's own logger would print an error line on every normal shutdown.
        var app = Application(responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        app.logger.logLevel = .critical
        let service = app
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.runService() }
            group.addTask { try await AggregatorService.driveDeadlines(coordinator, lingerSeconds: 1) }
            _ = try await group.next()
            group.cancelAll()
        }
    }
}
