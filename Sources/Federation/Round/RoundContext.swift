import SecureAggregation

/// What a round's signed secure-aggregation configuration binds besides the protocol's own parameters
/// (`SecAggConfig.boundContext`): a hash over these fields, so a party whose view differs cannot take part.
/// Add fields (e.g. the round and the global model's hash) by appending them to `bytes`.
public struct RoundContext: Equatable, Sendable {
    /// BLAKE2b-256 of the federation file's canonical form (`FederationFile.fingerprintBytes`).
    public var federationFingerprint: [UInt8]

    /// Creates the context of `federation`.
    public init(federation: FederationFile) { federationFingerprint = federation.fingerprintBytes }

    /// The 32 bytes bound into the configuration: BLAKE2b-256 over a domain tag and each field, length-prefixed.
    public var digest: [UInt8] {
        var bytes = Array("segviz round context 1".utf8)
        for field in [federationFingerprint] {
            bytes += withUnsafeBytes(of: UInt32(field.count).bigEndian, Array.init)
            bytes += field
        }
        return FedCrypto.blake2b256(bytes)
    }
}
