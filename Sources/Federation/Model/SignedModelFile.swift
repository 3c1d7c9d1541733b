/// A global model file as the aggregator stores and serves it: the safetensors bytes and the text of their
/// detached minisign signature (not yet verified: ``ModelSignature`` checks them).
public struct SignedModelFile: Sendable, Equatable {
    /// The model file's bytes.
    public var bytes: [UInt8]
    /// The `.minisig` text.
    public var signature: String

    /// Bytes and signature text.
    public init(bytes: [UInt8], signature: String) {
        self.bytes = bytes
        self.signature = signature
    }
}

/// The aggregator's current global model as its state directory and ledger give it.
struct StoredModel {
    /// The model.
    let model: FederatedModel
    /// The round that produced it (0: the initial model).
    let round: Int
    /// Hex BLAKE2b-256 of its file.
    let hash: String
}
