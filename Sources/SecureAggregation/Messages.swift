/// Wire messages: `version (1) | type (1) | round (u64 LE) | body`, all integers little-endian,
/// every list preceded by a u32 count that is checked against a limit and against the bytes that
/// remain before anything is allocated. `decode(_:)` is context free (truncated, oversized,
/// trailing bytes, bad version, bad type, unsorted ids); wrong round, wrong sender and replays are
/// refused by the state machines, which know the context.
public protocol SecAggMessage: Equatable, Sendable {
    static var typeCode: UInt8 { get }
    static var name: String { get }
    var round: UInt64 { get }
    func encodeBody(into w: inout ByteWriter)
    static func decodeBody(_ r: inout ByteReader, round: UInt64) throws -> Self
}

public enum WireFormat {
    /// The protocol version: the first byte of every message and part of the configuration
    /// digest. 2: user ids in pairwise keys, signed block map, seed commitments, bound context.
    /// A message of any other version is refused with `unsupportedVersion`.
    public static let version: UInt8 = 2
    /// Longest list of users, shares or signatures a decoder accepts.
    public static let maximumUsers = 65_535
    /// Longest masked vector (words) a decoder accepts: 2^28 (1 GiB).
    public static let maximumWords = 1 << 28
    public static let maximumReasonBytes = 4096
    static let shareCiphertextLength = 64 + 16
    static let secretLength = 32
}

extension SecAggMessage {
    public func encode() -> [UInt8] {
        var w = ByteWriter()
        w.u8(WireFormat.version)
        w.u8(Self.typeCode)
        w.u64(round)
        encodeBody(into: &w)
        return w.data
    }

    /// Decodes one message of this type; throws a typed `SecAggError` for anything malformed.
    public static func decode(_ bytes: [UInt8]) throws -> Self {
        var r = ByteReader(bytes, message: name)
        let version = try r.u8()
        guard version == WireFormat.version else { throw SecAggError.unsupportedVersion(version) }
        let type = try r.u8()
        guard type == typeCode else { throw SecAggError.unknownMessageType(type) }
        let round = try r.u64()
        let m = try decodeBody(&r, round: round)
        try r.finish()
        return m
    }
}

extension ByteReader {
    mutating func x25519() throws -> KeyAgreement.PublicKey {
        try KeyAgreement.PublicKey(rawRepresentation: bytes(KeyAgreement.keyLength))
    }
}

// MARK: Client -> server

/// Phase 0: a user's two X25519 public keys and its commitment to its self-mask seed, signed
/// with its roster identity.
public struct AdvertiseKeysMessage: SecAggMessage {
    public static let typeCode: UInt8 = 1
    public static let name = "AdvertiseKeys"
    public static let encodedBodyLength = 4 + 32 + 32 + 32 + 64
    public let round: UInt64
    public let sender: UInt32
    /// c_u: agreement key for encrypting shares.
    public let encryptionKey: KeyAgreement.PublicKey
    /// s_u: agreement key for pairwise masks.
    public let maskingKey: KeyAgreement.PublicKey
    /// BLAKE2b-256 commitment to the self-mask seed b_u (see `seedCommitment(config:sender:seed:)`):
    /// a reconstructed seed is checked against it, so a forged share cannot go unnoticed.
    public let seedCommitment: [UInt8]
    public let signature: [UInt8]

    public init(round: UInt64, sender: UInt32, encryptionKey: KeyAgreement.PublicKey,
                maskingKey: KeyAgreement.PublicKey, seedCommitment: [UInt8], signature: [UInt8]) {
        self.round = round
        self.sender = sender
        self.encryptionKey = encryptionKey
        self.maskingKey = maskingKey
        self.seedCommitment = seedCommitment
        self.signature = signature
    }

    /// An advertisement signed by `identity` (the roster key of `sender`).
    public static func signed(config: SecAggConfig, sender: UInt32, encryptionKey: KeyAgreement.PublicKey,
                              maskingKey: KeyAgreement.PublicKey, seedCommitment: [UInt8],
                              identity: Identity.SigningKey) -> AdvertiseKeysMessage {
        let t = transcript(config: config, sender: sender, encryptionKey: encryptionKey, maskingKey: maskingKey,
                           seedCommitment: seedCommitment)
        return AdvertiseKeysMessage(round: config.round, sender: sender, encryptionKey: encryptionKey, maskingKey: maskingKey,
                                    seedCommitment: seedCommitment, signature: identity.signature(for: t))
    }

    /// The commitment to a self-mask seed: keyed by nothing secret but the seed itself (32
    /// uniformly random bytes), bound to the configuration and the sender.
    public static func seedCommitment(config: SecAggConfig, sender: UInt32, seed: [UInt8]) -> [UInt8] {
        var w = ByteWriter()
        w.bytes(Array("segviz-secagg seed commitment".utf8))
        w.bytes(config.digest)
        w.u32(sender)
        w.bytes(seed)
        return BLAKE2b.hash(w.data, length: .bytes32)
    }

    /// The bytes the identity key signs: label, configuration digest (which includes the
    /// protocol version and the round), sender, both keys and the seed commitment.
    static func transcript(config: SecAggConfig, sender: UInt32, encryptionKey: KeyAgreement.PublicKey,
                           maskingKey: KeyAgreement.PublicKey, seedCommitment: [UInt8]) -> [UInt8] {
        var w = ByteWriter()
        w.bytes(Array("segviz-secagg advertise".utf8))
        w.bytes(config.digest)
        w.u32(sender)
        w.bytes(encryptionKey.rawRepresentation)
        w.bytes(maskingKey.rawRepresentation)
        w.bytes(seedCommitment)
        return w.data
    }

    func verify(config: SecAggConfig) throws {
        try config.checkUser(sender)
        let t = Self.transcript(config: config, sender: sender, encryptionKey: encryptionKey, maskingKey: maskingKey,
                                seedCommitment: seedCommitment)
        guard config.roster[Int(sender)].isValidSignature(signature, for: t) else {
            throw SecAggError.invalidSignature(user: sender, what: "key advertisement")
        }
    }

    public func encodeBody(into w: inout ByteWriter) {
        w.u32(sender)
        w.bytes(encryptionKey.rawRepresentation)
        w.bytes(maskingKey.rawRepresentation)
        w.bytes(seedCommitment)
        w.bytes(signature)
    }

    public static func decodeBody(_ r: inout ByteReader, round: UInt64) throws -> AdvertiseKeysMessage {
        AdvertiseKeysMessage(round: round, sender: try r.u32(), encryptionKey: try r.x25519(),
                             maskingKey: try r.x25519(), seedCommitment: try r.bytes(32),
                             signature: try r.bytes(Identity.signatureLength))
    }
}

/// Every key in a key list must be distinct: a re-advertised key would make two pairwise masks
/// cancel. Returns the first pair of users sharing a key.
func firstDuplicateKey(_ ads: [AdvertiseKeysMessage]) -> (UInt32, UInt32)? {
    var seen: [[UInt8]: UInt32] = [:]
    for a in ads {
        for key in [a.encryptionKey.rawRepresentation, a.maskingKey.rawRepresentation] {
            if let other = seen.updateValue(a.sender, forKey: key) { return (other, a.sender) }
        }
    }
    return nil
}

/// One encrypted pair of shares (self-mask seed share, masking-key share) between two users.
public struct EncryptedShare: Equatable, Sendable {
    /// The receiver (in `ShareKeysMessage`) or the sender (in `ShareBundleMessage`).
    public let peer: UInt32
    public let nonce: [UInt8]
    public let ciphertext: [UInt8]
    public init(peer: UInt32, nonce: [UInt8], ciphertext: [UInt8]) {
        self.peer = peer
        self.nonce = nonce
        self.ciphertext = ciphertext
    }
    static let encodedLength = 4 + 24 + WireFormat.shareCiphertextLength

    static func encode(_ list: [EncryptedShare], into w: inout ByteWriter) {
        w.u32(UInt32(list.count))
        for s in list {
            w.u32(s.peer)
            w.bytes(s.nonce)
            w.bytes(s.ciphertext)
        }
    }

    static func decodeList(_ r: inout ByteReader) throws -> [EncryptedShare] {
        let n = try r.count(itemSize: encodedLength, limit: WireFormat.maximumUsers, what: "shares")
        var out: [EncryptedShare] = []
        out.reserveCapacity(n)
        for _ in 0 ..< n {
            let s = EncryptedShare(peer: try r.u32(), nonce: try r.bytes(24), ciphertext: try r.bytes(WireFormat.shareCiphertextLength))
            if let last = out.last, s.peer <= last.peer {
                throw SecAggError.malformed(message: r.message, reason: "share peers not strictly increasing at \(s.peer)")
            }
            out.append(s)
        }
        return out
    }
}

/// Phase 1: a user's encrypted shares, one per holder that advertised.
public struct ShareKeysMessage: SecAggMessage {
    public static let typeCode: UInt8 = 2
    public static let name = "ShareKeys"
    public let round: UInt64
    public let sender: UInt32
    public let shares: [EncryptedShare]
    public init(round: UInt64, sender: UInt32, shares: [EncryptedShare]) {
        self.round = round
        self.sender = sender
        self.shares = shares
    }
    public func encodeBody(into w: inout ByteWriter) {
        w.u32(sender)
        EncryptedShare.encode(shares, into: &w)
    }
    public static func decodeBody(_ r: inout ByteReader, round: UInt64) throws -> ShareKeysMessage {
        ShareKeysMessage(round: round, sender: try r.u32(), shares: try EncryptedShare.decodeList(&r))
    }
}

/// Phase 2: the masked, quantised, weighted update.
public struct MaskedInputMessage: SecAggMessage {
    public static let typeCode: UInt8 = 3
    public static let name = "MaskedInput"
    public let round: UInt64
    public let sender: UInt32
    public let words: [UInt32]
    public init(round: UInt64, sender: UInt32, words: [UInt32]) {
        self.round = round
        self.sender = sender
        self.words = words
    }
    public func encodeBody(into w: inout ByteWriter) {
        w.u32(sender)
        w.u32(UInt32(words.count))
        w.words(words)
    }
    public static func decodeBody(_ r: inout ByteReader, round: UInt64) throws -> MaskedInputMessage {
        let sender = try r.u32()
        let n = try r.count(itemSize: 4, limit: WireFormat.maximumWords, what: "words")
        return MaskedInputMessage(round: round, sender: sender, words: try r.words(n))
    }
}

/// Phase 3: the user's signature on (round, session, U3).
public struct ConsistencySignatureMessage: SecAggMessage {
    public static let typeCode: UInt8 = 4
    public static let name = "ConsistencySignature"
    public let round: UInt64
    public let sender: UInt32
    public let signature: [UInt8]
    public init(round: UInt64, sender: UInt32, signature: [UInt8]) {
        self.round = round
        self.sender = sender
        self.signature = signature
    }

    /// `identity`'s signature on the survivor list `survivors` of the session.
    public static func signed(config: SecAggConfig, session: [UInt8], survivors: [UInt32], sender: UInt32,
                              identity: Identity.SigningKey) -> ConsistencySignatureMessage {
        ConsistencySignatureMessage(round: config.round, sender: sender,
                                    signature: identity.signature(for: transcript(config: config, session: session, survivors: survivors)))
    }

    static func transcript(config: SecAggConfig, session: [UInt8], survivors: [UInt32]) -> [UInt8] {
        var w = ByteWriter()
        w.bytes(Array("segviz-secagg consistency".utf8))
        w.bytes(config.digest)
        w.bytes(session)
        w.u32(UInt32(survivors.count))
        for u in survivors { w.u32(u) }
        return w.data
    }

    public func encodeBody(into w: inout ByteWriter) {
        w.u32(sender)
        w.bytes(signature)
    }
    public static func decodeBody(_ r: inout ByteReader, round: UInt64) throws -> ConsistencySignatureMessage {
        ConsistencySignatureMessage(round: round, sender: try r.u32(), signature: try r.bytes(Identity.signatureLength))
    }
}

/// A revealed Shamir share of `owner`'s self-mask seed or masking key.
public struct RevealedShare: Equatable, Sendable {
    public let owner: UInt32
    public let value: [UInt8]
    public init(owner: UInt32, value: [UInt8]) {
        self.owner = owner
        self.value = value
    }

    static func encode(_ list: [RevealedShare], into w: inout ByteWriter) {
        w.u32(UInt32(list.count))
        for s in list {
            w.u32(s.owner)
            w.bytes(s.value)
        }
    }

    static func decodeList(_ r: inout ByteReader) throws -> [RevealedShare] {
        let n = try r.count(itemSize: 4 + WireFormat.secretLength, limit: WireFormat.maximumUsers, what: "shares")
        var out: [RevealedShare] = []
        out.reserveCapacity(n)
        for _ in 0 ..< n {
            let s = RevealedShare(owner: try r.u32(), value: try r.bytes(WireFormat.secretLength))
            if let last = out.last, s.owner <= last.owner {
                throw SecAggError.malformed(message: r.message, reason: "share owners not strictly increasing at \(s.owner)")
            }
            out.append(s)
        }
        return out
    }
}

/// Phase 4: self-mask shares of survivors, masking-key shares of users who dropped after sharing.
public struct UnmaskingResponseMessage: SecAggMessage {
    public static let typeCode: UInt8 = 5
    public static let name = "UnmaskingResponse"
    public let round: UInt64
    public let sender: UInt32
    public let selfMaskShares: [RevealedShare]
    public let keyShares: [RevealedShare]
    public init(round: UInt64, sender: UInt32, selfMaskShares: [RevealedShare], keyShares: [RevealedShare]) {
        self.round = round
        self.sender = sender
        self.selfMaskShares = selfMaskShares
        self.keyShares = keyShares
    }
    public func encodeBody(into w: inout ByteWriter) {
        w.u32(sender)
        RevealedShare.encode(selfMaskShares, into: &w)
        RevealedShare.encode(keyShares, into: &w)
    }
    public static func decodeBody(_ r: inout ByteReader, round: UInt64) throws -> UnmaskingResponseMessage {
        UnmaskingResponseMessage(round: round, sender: try r.u32(), selfMaskShares: try RevealedShare.decodeList(&r),
                                 keyShares: try RevealedShare.decodeList(&r))
    }
}

// MARK: Server -> client

/// End of phase 0: every advertisement in U1 (sorted by sender).
public struct KeyListMessage: SecAggMessage {
    public static let typeCode: UInt8 = 6
    public static let name = "KeyList"
    public let round: UInt64
    public let advertisements: [AdvertiseKeysMessage]
    public init(round: UInt64, advertisements: [AdvertiseKeysMessage]) {
        self.round = round
        self.advertisements = advertisements
    }
    public func encodeBody(into w: inout ByteWriter) {
        w.u32(UInt32(advertisements.count))
        for a in advertisements { a.encodeBody(into: &w) }
    }
    public static func decodeBody(_ r: inout ByteReader, round: UInt64) throws -> KeyListMessage {
        let n = try r.count(itemSize: AdvertiseKeysMessage.encodedBodyLength, limit: WireFormat.maximumUsers, what: "advertisements")
        var ads: [AdvertiseKeysMessage] = []
        ads.reserveCapacity(n)
        for _ in 0 ..< n {
            let a = try AdvertiseKeysMessage.decodeBody(&r, round: round)
            if let last = ads.last, a.sender <= last.sender {
                throw SecAggError.malformed(message: name, reason: "advertisements not strictly increasing at \(a.sender)")
            }
            ads.append(a)
        }
        return KeyListMessage(round: round, advertisements: ads)
    }
}

/// End of phase 1: the shares addressed to `receiver`.
public struct ShareBundleMessage: SecAggMessage {
    public static let typeCode: UInt8 = 7
    public static let name = "ShareBundle"
    public let round: UInt64
    public let receiver: UInt32
    public let shares: [EncryptedShare]
    public init(round: UInt64, receiver: UInt32, shares: [EncryptedShare]) {
        self.round = round
        self.receiver = receiver
        self.shares = shares
    }
    public func encodeBody(into w: inout ByteWriter) {
        w.u32(receiver)
        EncryptedShare.encode(shares, into: &w)
    }
    public static func decodeBody(_ r: inout ByteReader, round: UInt64) throws -> ShareBundleMessage {
        ShareBundleMessage(round: round, receiver: try r.u32(), shares: try EncryptedShare.decodeList(&r))
    }
}

/// End of phase 2: U3, the users whose masked input arrived.
public struct ConsistencyRequestMessage: SecAggMessage {
    public static let typeCode: UInt8 = 8
    public static let name = "ConsistencyRequest"
    public let round: UInt64
    public let survivors: [UInt32]
    public init(round: UInt64, survivors: [UInt32]) {
        self.round = round
        self.survivors = survivors
    }
    public func encodeBody(into w: inout ByteWriter) {
        w.u32(UInt32(survivors.count))
        for u in survivors { w.u32(u) }
    }
    public static func decodeBody(_ r: inout ByteReader, round: UInt64) throws -> ConsistencyRequestMessage {
        let n = try r.count(itemSize: 4, limit: WireFormat.maximumUsers, what: "survivors")
        return ConsistencyRequestMessage(round: round, survivors: try r.sortedIDs(n, what: "survivors"))
    }
}

/// A user's signature on the survivor list.
public struct SurvivorSignature: Equatable, Sendable {
    public let user: UInt32
    public let signature: [UInt8]
    public init(user: UInt32, signature: [UInt8]) {
        self.user = user
        self.signature = signature
    }
}

/// End of phase 3: the users claimed to have dropped after sharing (whose masking-key shares are
/// asked for) and the survivors' signatures on U3 that the receiver must check.
public struct UnmaskingRequestMessage: SecAggMessage {
    public static let typeCode: UInt8 = 9
    public static let name = "UnmaskingRequest"
    public let round: UInt64
    public let dropped: [UInt32]
    public let signatures: [SurvivorSignature]
    public init(round: UInt64, dropped: [UInt32], signatures: [SurvivorSignature]) {
        self.round = round
        self.dropped = dropped
        self.signatures = signatures
    }
    public func encodeBody(into w: inout ByteWriter) {
        w.u32(UInt32(dropped.count))
        for u in dropped { w.u32(u) }
        w.u32(UInt32(signatures.count))
        for s in signatures {
            w.u32(s.user)
            w.bytes(s.signature)
        }
    }
    public static func decodeBody(_ r: inout ByteReader, round: UInt64) throws -> UnmaskingRequestMessage {
        let nd = try r.count(itemSize: 4, limit: WireFormat.maximumUsers, what: "dropped users")
        let dropped = try r.sortedIDs(nd, what: "dropped users")
        let ns = try r.count(itemSize: 4 + Identity.signatureLength, limit: WireFormat.maximumUsers, what: "signatures")
        var sigs: [SurvivorSignature] = []
        sigs.reserveCapacity(ns)
        for _ in 0 ..< ns {
            let s = SurvivorSignature(user: try r.u32(), signature: try r.bytes(Identity.signatureLength))
            if let last = sigs.last, s.user <= last.user {
                throw SecAggError.malformed(message: name, reason: "signers not strictly increasing at \(s.user)")
            }
            sigs.append(s)
        }
        return UnmaskingRequestMessage(round: round, dropped: dropped, signatures: sigs)
    }
}

/// End of the round: completed, or aborted with the server's reason.
public struct RoundFinishedMessage: SecAggMessage {
    public static let typeCode: UInt8 = 10
    public static let name = "RoundFinished"
    public let round: UInt64
    public let completed: Bool
    public let reason: String
    public init(round: UInt64, completed: Bool, reason: String) {
        self.round = round
        self.completed = completed
        self.reason = reason
    }
    public func encodeBody(into w: inout ByteWriter) {
        w.u8(completed ? 1 : 0)
        // At most maximumReasonBytes, cut at a character boundary so that the bytes stay valid UTF-8.
        var text = Array(reason.utf8.prefix(WireFormat.maximumReasonBytes))
        while String(validating: text, as: UTF8.self) == nil { text.removeLast() }
        w.u32(UInt32(text.count))
        w.bytes(text)
    }
    public static func decodeBody(_ r: inout ByteReader, round: UInt64) throws -> RoundFinishedMessage {
        let flag = try r.u8()
        guard flag <= 1 else { throw SecAggError.malformed(message: name, reason: "completion flag \(flag)") }
        let n = try r.count(itemSize: 1, limit: WireFormat.maximumReasonBytes, what: "reason bytes")
        // Only valid UTF-8: a lossy decoding would give one message two encodings.
        guard let reason = String(validating: try r.bytes(n), as: UTF8.self) else {
            throw SecAggError.malformed(message: name, reason: "reason is not valid UTF-8")
        }
        return RoundFinishedMessage(round: round, completed: flag == 1, reason: reason)
    }
}

// MARK: Envelopes

/// Any client -> server message.
public enum ClientMessage: Equatable, Sendable {
    case advertiseKeys(AdvertiseKeysMessage)
    case shareKeys(ShareKeysMessage)
    case maskedInput(MaskedInputMessage)
    case consistencySignature(ConsistencySignatureMessage)
    case unmaskingResponse(UnmaskingResponseMessage)

    public var sender: UInt32 {
        switch self {
        case let .advertiseKeys(m): return m.sender
        case let .shareKeys(m): return m.sender
        case let .maskedInput(m): return m.sender
        case let .consistencySignature(m): return m.sender
        case let .unmaskingResponse(m): return m.sender
        }
    }

    public func encode() -> [UInt8] {
        switch self {
        case let .advertiseKeys(m): return m.encode()
        case let .shareKeys(m): return m.encode()
        case let .maskedInput(m): return m.encode()
        case let .consistencySignature(m): return m.encode()
        case let .unmaskingResponse(m): return m.encode()
        }
    }

    /// Decodes any client message by its type byte.
    public static func decode(_ bytes: [UInt8]) throws -> ClientMessage {
        guard bytes.count >= 2 else { throw SecAggError.truncated(message: "client message", needed: 2, available: bytes.count) }
        switch bytes[1] {
        case AdvertiseKeysMessage.typeCode: return .advertiseKeys(try .decode(bytes))
        case ShareKeysMessage.typeCode: return .shareKeys(try .decode(bytes))
        case MaskedInputMessage.typeCode: return .maskedInput(try .decode(bytes))
        case ConsistencySignatureMessage.typeCode: return .consistencySignature(try .decode(bytes))
        case UnmaskingResponseMessage.typeCode: return .unmaskingResponse(try .decode(bytes))
        default:
            guard bytes[0] == WireFormat.version else { throw SecAggError.unsupportedVersion(bytes[0]) }
            throw SecAggError.unknownMessageType(bytes[1])
        }
    }
}

/// Any server -> client message.
public enum ServerMessage: Equatable, Sendable {
    case keyList(KeyListMessage)
    case shareBundle(ShareBundleMessage)
    case consistencyRequest(ConsistencyRequestMessage)
    case unmaskingRequest(UnmaskingRequestMessage)
    case roundFinished(RoundFinishedMessage)

    var name: String {
        switch self {
        case .keyList: return KeyListMessage.name
        case .shareBundle: return ShareBundleMessage.name
        case .consistencyRequest: return ConsistencyRequestMessage.name
        case .unmaskingRequest: return UnmaskingRequestMessage.name
        case .roundFinished: return RoundFinishedMessage.name
        }
    }

    public var round: UInt64 {
        switch self {
        case let .keyList(m): return m.round
        case let .shareBundle(m): return m.round
        case let .consistencyRequest(m): return m.round
        case let .unmaskingRequest(m): return m.round
        case let .roundFinished(m): return m.round
        }
    }

    public func encode() -> [UInt8] {
        switch self {
        case let .keyList(m): return m.encode()
        case let .shareBundle(m): return m.encode()
        case let .consistencyRequest(m): return m.encode()
        case let .unmaskingRequest(m): return m.encode()
        case let .roundFinished(m): return m.encode()
        }
    }

    /// Decodes any server message by its type byte.
    public static func decode(_ bytes: [UInt8]) throws -> ServerMessage {
        guard bytes.count >= 2 else { throw SecAggError.truncated(message: "server message", needed: 2, available: bytes.count) }
        switch bytes[1] {
        case KeyListMessage.typeCode: return .keyList(try .decode(bytes))
        case ShareBundleMessage.typeCode: return .shareBundle(try .decode(bytes))
        case ConsistencyRequestMessage.typeCode: return .consistencyRequest(try .decode(bytes))
        case UnmaskingRequestMessage.typeCode: return .unmaskingRequest(try .decode(bytes))
        case RoundFinishedMessage.typeCode: return .roundFinished(try .decode(bytes))
        default:
            guard bytes[0] == WireFormat.version else { throw SecAggError.unsupportedVersion(bytes[0]) }
            throw SecAggError.unknownMessageType(bytes[1])
        }
    }
}
