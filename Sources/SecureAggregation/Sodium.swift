// The only file of the module that imports libsodium. Every primitive the protocol (and the
// federation layer) uses is wrapped here behind Swift types that never expose a raw pointer and
// wipe secret material with `sodium_memzero` when it is released.
import CSodium

/// libsodium initialisation; `sodium_init` is idempotent and thread-safe, so every entry point
/// that needs it calls `Sodium.ready()` (a `let` global is initialised exactly once).
enum Sodium {
    private static let initialised: Bool = sodium_init() >= 0
    static func ready() {
        precondition(initialised, "libsodium failed to initialise")
    }
}

// MARK: - Secret bytes

/// A fixed buffer of secret bytes that is wiped (`sodium_memzero`) when the last reference goes.
/// Comparison is constant time (`sodium_memcmp`). Copy out with `withBytes` or `exportBytes()`.
public final class SecretBytes: @unchecked Sendable, Equatable {
    fileprivate var storage: [UInt8]

    /// Takes ownership of `bytes` (the caller should not keep another copy of a secret).
    public init(_ bytes: [UInt8]) {
        storage = bytes
    }

    /// `count` bytes from the given random source.
    public convenience init<R: RandomSource>(randomCount count: Int, using random: inout R) {
        self.init(random.bytes(count))
    }

    public var count: Int { storage.count }

    /// Runs `body` with a read-only view; the view must not escape.
    public func withBytes<T>(_ body: ([UInt8]) throws -> T) rethrows -> T { try body(storage) }

    /// A copy of the secret bytes (for export to a key file); the caller owns its lifetime.
    public func exportBytes() -> [UInt8] { storage }

    deinit {
        storage.withUnsafeMutableBytes { raw in
            if let base = raw.baseAddress { sodium_memzero(base, raw.count) }
        }
    }

    public static func == (lhs: SecretBytes, rhs: SecretBytes) -> Bool {
        constantTimeEqual(lhs.storage, rhs.storage)
    }
}

/// Secrets never show their bytes in `print`, string interpolation, `dump` or `String(reflecting:)`, so no
/// log line or error message built from a value that holds one can leak it.
extension SecretBytes: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "SecretBytes(\(count) bytes, redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .class) }
}

/// Constant-time equality of two byte strings (`sodium_memcmp`); unequal lengths compare unequal
/// (the lengths themselves are not secret).
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    if a.isEmpty { return true }
    return a.withUnsafeBytes { pa in
        b.withUnsafeBytes { pb in sodium_memcmp(pa.baseAddress!, pb.baseAddress!, a.count) == 0 }
    }
}

/// Overwrites an array's bytes with zeros in a way the optimiser cannot remove (`sodium_memzero`).
/// The array must be uniquely referenced for its storage, not a copy, to be wiped.
public func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { raw in
        if let base = raw.baseAddress { sodium_memzero(base, raw.count) }
    }
}

func wipe(_ words: inout [UInt32]) {
    words.withUnsafeMutableBytes { raw in
        if let base = raw.baseAddress { sodium_memzero(base, raw.count) }
    }
}

// MARK: - Randomness

/// Where the protocol's randomness comes from. Production uses `SystemRandom` (libsodium's
/// `randombytes_buf`); tests inject a seeded deterministic source so that a whole round replays.
public protocol RandomSource {
    /// `count` uniformly random bytes.
    mutating func bytes(_ count: Int) -> [UInt8]
}

/// The operating system's CSPRNG through libsodium's `randombytes_buf`.
public struct SystemRandom: RandomSource, Sendable {
    public init() { Sodium.ready() }
    public mutating func bytes(_ count: Int) -> [UInt8] {
        SecureRandom.bytes(count)
    }
}

/// Secure random bytes from the system RNG, for callers that need no injection.
public enum SecureRandom {
    public static func bytes(_ count: Int) -> [UInt8] {
        Sodium.ready()
        var out = [UInt8](repeating: 0, count: count)
        if count > 0 { out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, count) } }
        return out
    }

    /// libsodium's `randombytes_buf_deterministic`: `count` bytes expanded from a 32-byte seed
    /// (ChaCha20-IETF with the nonce "LibsodiumDRG"). Reproducible; for tests and derivations only.
    public static func deterministicBytes(_ count: Int, seed: [UInt8]) throws -> [UInt8] {
        try checkLength(seed, 32, "seed")
        Sodium.ready()
        var out = [UInt8](repeating: 0, count: count)
        if count > 0 {
            out.withUnsafeMutableBytes { o in
                seed.withUnsafeBytes { s in
                    randombytes_buf_deterministic(o.baseAddress!, count,
                                                  s.bindMemory(to: UInt8.self).baseAddress!)
                }
            }
        }
        return out
    }
}

func checkLength(_ bytes: [UInt8], _ expected: Int, _ what: String) throws {
    guard bytes.count == expected else {
        throw SecAggError.invalidLength(what: what, expected: expected, actual: bytes.count)
    }
}

// MARK: - Hashing (BLAKE2b)

/// BLAKE2b (`crypto_generichash`), one-shot or streaming, 16...64 bytes of output, optional key
/// of up to 64 bytes. minisign's "ED" prehashed signatures sign `BLAKE2b-512(file)` with plain
/// Ed25519: stream the file through `BLAKE2b(.bytes64)` and sign the 64-byte digest.
///
/// A value type with copy-on-write state: libsodium's 64-byte-aligned `crypto_generichash_state`
/// lives in an owned allocation of that alignment (never inside a Swift array, which may move),
/// and a copy that is updated gets its own state first, so both copies give the right digest.
public struct BLAKE2b: Sendable {
    public static let minimumOutputLength = Int(crypto_generichash_BYTES_MIN)
    public static let maximumOutputLength = Int(crypto_generichash_BYTES_MAX)
    public static let maximumKeyLength = Int(crypto_generichash_KEYBYTES_MAX)

    /// The fixed digest lengths the protocol and the federation use: these cannot fail.
    public enum DigestLength: Int, Sendable {
        case bytes32 = 32
        case bytes64 = 64
    }

    private var state: HashState
    public let outputLength: Int
    private var finalised = false

    /// A streaming hasher. Throws `invalidLength` for an output length outside 16...64 or a key
    /// longer than 64 bytes.
    public init(outputLength: Int = 32, key: [UInt8] = []) throws {
        guard (Self.minimumOutputLength...Self.maximumOutputLength).contains(outputLength) else {
            throw SecAggError.invalidLength(what: "BLAKE2b output", expected: Self.maximumOutputLength,
                                            actual: outputLength)
        }
        guard key.count <= Self.maximumKeyLength else {
            throw SecAggError.invalidLength(what: "BLAKE2b key", expected: Self.maximumKeyLength,
                                            actual: key.count)
        }
        self.init(checkedOutputLength: outputLength, key: key)
    }

    /// A streaming hasher of a fixed digest length, unkeyed: cannot fail.
    public init(_ length: DigestLength) {
        self.init(checkedOutputLength: length.rawValue, key: [])
    }

    /// A keyed streaming hasher of a fixed digest length. The key (a derived secret) must be at
    /// most 64 bytes: a precondition, since every caller passes a fixed-length secret.
    public init(_ length: DigestLength, key: SecretBytes) {
        precondition(key.count <= Self.maximumKeyLength, "BLAKE2b key of \(key.count) bytes exceeds 64")
        self = key.withBytes { Self(checkedOutputLength: length.rawValue, key: $0) }
    }

    private init(checkedOutputLength outputLength: Int, key: [UInt8]) {
        Sodium.ready()
        self.outputLength = outputLength
        state = HashState()
        let p = state.pointer
        key.withUnsafeBufferPointer { k in
            _ = crypto_generichash_init(p, k.baseAddress, k.count, outputLength)
        }
    }

    public mutating func update(_ data: [UInt8]) {
        data.withUnsafeBufferPointer { update($0) }
    }

    public mutating func update(_ data: ArraySlice<UInt8>) {
        data.withUnsafeBufferPointer { update($0) }
    }

    private mutating func update(_ bytes: UnsafeBufferPointer<UInt8>) {
        precondition(!finalised, "BLAKE2b.update after finalize")
        if !isKnownUniquelyReferenced(&state) { state = state.copy() }
        _ = crypto_generichash_update(state.pointer, bytes.baseAddress, UInt64(bytes.count))
    }

    /// The digest; the hasher cannot be updated afterwards.
    public mutating func finalize() -> [UInt8] {
        precondition(!finalised, "BLAKE2b.finalize called twice")
        finalised = true
        if !isKnownUniquelyReferenced(&state) { state = state.copy() }
        let n = outputLength
        let p = state.pointer
        let out = [UInt8](unsafeUninitializedCapacity: n) { buffer, initialised in
            _ = crypto_generichash_final(p, buffer.baseAddress!, n)
            initialised = n
        }
        state.wipe()
        return out
    }

    /// One-shot BLAKE2b.
    public static func hash(_ data: [UInt8], outputLength: Int = 32, key: [UInt8] = []) throws -> [UInt8] {
        var h = try BLAKE2b(outputLength: outputLength, key: key)
        h.update(data)
        return h.finalize()
    }

    /// One-shot unkeyed BLAKE2b of a fixed length: cannot fail.
    public static func hash(_ data: [UInt8], length: DigestLength) -> [UInt8] {
        var h = BLAKE2b(length)
        h.update(data)
        return h.finalize()
    }

    /// One-shot keyed BLAKE2b of a fixed length (key at most 64 bytes, a precondition).
    public static func hash(_ data: [UInt8], length: DigestLength, key: SecretBytes) -> [UInt8] {
        var h = BLAKE2b(length, key: key)
        h.update(data)
        return h.finalize()
    }
}

/// libsodium's hash state in its own 64-byte-aligned allocation (the packed, aligned C struct
/// imports as an opaque type). Shared between copies of a `BLAKE2b` until one of them writes:
/// `BLAKE2b` copies it first unless it is uniquely referenced.
/// @unchecked Sendable: no lock is needed because the state is never written while shared (every
/// write goes through `BLAKE2b`'s uniqueness check), and a shared state is only read by `copy()`.
private final class HashState: @unchecked Sendable {
    static let size = crypto_generichash_statebytes()
    static let alignment = 64
    let raw: UnsafeMutableRawPointer

    init() {
        raw = UnsafeMutableRawPointer.allocate(byteCount: Self.size, alignment: Self.alignment)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: Self.size)
    }

    var pointer: OpaquePointer { OpaquePointer(raw) }

    func copy() -> HashState {
        let c = HashState()
        c.raw.copyMemory(from: raw, byteCount: Self.size)
        return c
    }

    func wipe() { sodium_memzero(raw, Self.size) }

    deinit {
        wipe()
        raw.deallocate()
    }
}

// MARK: - Ed25519 identities

/// Long-term identity keys (Ed25519, `crypto_sign`): roster entries are `Identity.PublicKey`s.
public enum Identity {
    public static let publicKeyLength = Int(crypto_sign_PUBLICKEYBYTES)
    public static let seedLength = Int(crypto_sign_SEEDBYTES)
    public static let signatureLength = Int(crypto_sign_BYTES)

    public struct PublicKey: Hashable, Sendable {
        public let rawRepresentation: [UInt8]
        /// Import 32 raw bytes (RFC 8032 encoding).
        public init(rawRepresentation: [UInt8]) throws {
            try checkLength(rawRepresentation, Identity.publicKeyLength, "Ed25519 public key")
            self.rawRepresentation = rawRepresentation
        }

        /// A key libsodium just produced (its length is right by construction: a precondition).
        init(checkedRaw raw: [UInt8]) {
            precondition(raw.count == Identity.publicKeyLength)
            rawRepresentation = raw
        }

        /// Verifies a detached RFC 8032 Ed25519 signature over `message` (any length).
        /// Returns false for a wrong-length or non-canonical signature.
        public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
            guard signature.count == Identity.signatureLength else { return false }
            Sodium.ready()
            return signature.withUnsafeBytes { s in
                message.withUnsafeBytes { m in
                    rawRepresentation.withUnsafeBytes { pk in
                        crypto_sign_verify_detached(s.bindMemory(to: UInt8.self).baseAddress!,
                                                    m.bindMemory(to: UInt8.self).baseAddress,
                                                    UInt64(message.count),
                                                    pk.bindMemory(to: UInt8.self).baseAddress!) == 0
                    }
                }
            }
        }

        /// Verifies an RFC 8032 Ed25519ph signature (SHA-512 prehash) made by
        /// `SigningKey.prehashSignature(streaming:)`.
        public func isValidPrehashSignature(_ signature: [UInt8], for parts: [[UInt8]]) -> Bool {
            guard signature.count == Identity.signatureLength else { return false }
            Sodium.ready()
            var st = crypto_sign_ed25519ph_state()
            crypto_sign_ed25519ph_init(&st)
            for part in parts {
                part.withUnsafeBytes { p in
                    _ = crypto_sign_ed25519ph_update(&st, p.bindMemory(to: UInt8.self).baseAddress, UInt64(part.count))
                }
            }
            var sig = signature
            return rawRepresentation.withUnsafeBytes { pk in
                crypto_sign_ed25519ph_final_verify(&st, &sig, pk.bindMemory(to: UInt8.self).baseAddress!) == 0
            }
        }
    }

    public struct SigningKey: Sendable {
        /// The 32-byte RFC 8032 secret seed (what key files store).
        let seed: SecretBytes
        /// libsodium's 64-byte expanded secret key (seed || public key).
        let expanded: SecretBytes
        public let publicKey: PublicKey

        /// A fresh identity from the system RNG.
        public init() {
            var rng = SystemRandom()
            self.init(using: &rng)
        }

        /// A fresh identity from an injected random source.
        public init<R: RandomSource>(using random: inout R) {
            let seed = random.bytes(Identity.seedLength)
            precondition(seed.count == Identity.seedLength, "RandomSource returned \(seed.count) bytes, asked \(Identity.seedLength)")
            self.init(checkedSeed: seed)
        }

        /// Import the 32-byte RFC 8032 secret seed.
        public init(seed: [UInt8]) throws {
            try checkLength(seed, Identity.seedLength, "Ed25519 seed")
            self.init(checkedSeed: seed)
        }

        private init(checkedSeed seed: [UInt8]) {
            Sodium.ready()
            var pk = [UInt8](repeating: 0, count: Identity.publicKeyLength)
            var sk = [UInt8](repeating: 0, count: Int(crypto_sign_SECRETKEYBYTES))
            _ = crypto_sign_seed_keypair(&pk, &sk, seed)
            self.seed = SecretBytes(seed)
            self.expanded = SecretBytes(sk)
            self.publicKey = PublicKey(checkedRaw: pk)
        }

        /// Export of the 32-byte seed (for a key file); the caller must protect and wipe it.
        public func exportSeed() -> [UInt8] { seed.exportBytes() }

        /// A detached Ed25519 signature of `message` (any length; pure Ed25519 reads it twice).
        public func signature(for message: [UInt8]) -> [UInt8] {
            var sig = [UInt8](repeating: 0, count: Identity.signatureLength)
            expanded.withBytes { sk in
                message.withUnsafeBytes { m in
                    _ = crypto_sign_detached(&sig, nil, m.bindMemory(to: UInt8.self).baseAddress,
                                             UInt64(message.count), sk)
                }
            }
            return sig
        }

        /// An RFC 8032 Ed25519ph signature (SHA-512 prehash) of the concatenation of `parts`,
        /// for messages too large to hold at once. (minisign's prehashed mode is different: it
        /// signs BLAKE2b-512 of the file with plain `signature(for:)`.)
        public func prehashSignature(streaming parts: [[UInt8]]) -> [UInt8] {
            var st = crypto_sign_ed25519ph_state()
            crypto_sign_ed25519ph_init(&st)
            for part in parts {
                part.withUnsafeBytes { p in
                    _ = crypto_sign_ed25519ph_update(&st, p.bindMemory(to: UInt8.self).baseAddress, UInt64(part.count))
                }
            }
            var sig = [UInt8](repeating: 0, count: Identity.signatureLength)
            expanded.withBytes { sk in _ = crypto_sign_ed25519ph_final_create(&st, &sig, nil, sk) }
            return sig
        }
    }
}

// MARK: - X25519 key agreement

/// Ephemeral X25519 key pairs (`crypto_scalarmult`) for share encryption and pairwise masks.
public enum KeyAgreement {
    public static let keyLength = Int(crypto_scalarmult_BYTES)

    public struct PublicKey: Hashable, Sendable {
        public let rawRepresentation: [UInt8]
        public init(rawRepresentation: [UInt8]) throws {
            try checkLength(rawRepresentation, KeyAgreement.keyLength, "X25519 public key")
            self.rawRepresentation = rawRepresentation
        }

        /// A key libsodium just produced (its length is right by construction: a precondition).
        init(checkedRaw raw: [UInt8]) {
            precondition(raw.count == KeyAgreement.keyLength)
            rawRepresentation = raw
        }
    }

    public struct PrivateKey: Sendable {
        let scalar: SecretBytes
        public let publicKey: PublicKey

        public init<R: RandomSource>(using random: inout R) {
            let raw = random.bytes(KeyAgreement.keyLength)
            precondition(raw.count == KeyAgreement.keyLength, "RandomSource returned \(raw.count) bytes, asked \(KeyAgreement.keyLength)")
            self.init(checkedRaw: raw)
        }

        /// Import a raw 32-byte scalar (clamped by X25519 itself, as RFC 7748 specifies).
        public init(rawRepresentation: [UInt8]) throws {
            try checkLength(rawRepresentation, KeyAgreement.keyLength, "X25519 private key")
            self.init(checkedRaw: rawRepresentation)
        }

        private init(checkedRaw rawRepresentation: [UInt8]) {
            Sodium.ready()
            var pk = [UInt8](repeating: 0, count: KeyAgreement.keyLength)
            _ = crypto_scalarmult_base(&pk, rawRepresentation)
            scalar = SecretBytes(rawRepresentation)
            publicKey = PublicKey(checkedRaw: pk)
        }

        public func exportRawRepresentation() -> [UInt8] { scalar.exportBytes() }

        /// The raw X25519 shared secret with `peer`. Throws `keyAgreementFailed` for a low-order
        /// peer key (libsodium refuses an all-zero result).
        public func sharedSecret(with peer: PublicKey) throws -> SecretBytes {
            var out = [UInt8](repeating: 0, count: KeyAgreement.keyLength)
            let rc = scalar.withBytes { n in crypto_scalarmult(&out, n, peer.rawRepresentation) }
            guard rc == 0 else {
                wipe(&out)
                throw SecAggError.keyAgreementFailed
            }
            return SecretBytes(out)
        }
    }
}

// MARK: - ChaCha20-IETF keystream (RFC 8439) and mask expansion

/// ChaCha20 with a 96-bit nonce and a 32-bit block counter (`crypto_stream_chacha20_ietf`).
public enum ChaCha20 {
    public static let keyLength = Int(crypto_stream_chacha20_ietf_KEYBYTES)
    public static let nonceLength = Int(crypto_stream_chacha20_ietf_NONCEBYTES)

    /// `count` keystream bytes starting at block `counter`.
    public static func keystream(count: Int, key: [UInt8], nonce: [UInt8] = [UInt8](repeating: 0, count: 12),
                                 counter: UInt32 = 0) throws -> [UInt8] {
        try xor([UInt8](repeating: 0, count: count), key: key, nonce: nonce, counter: counter)
    }

    /// XORs the keystream (from block `counter`) into `buffer` in place, without allocating:
    /// on a zeroed buffer this writes the raw keystream (used to measure ChaCha20's speed).
    public static func xorInPlace(_ buffer: inout [UInt8], key: [UInt8], nonce: [UInt8] = [UInt8](repeating: 0, count: 12),
                                  counter: UInt32 = 0) throws {
        try checkLength(key, keyLength, "ChaCha20 key")
        try checkLength(nonce, nonceLength, "ChaCha20 nonce")
        Sodium.ready()
        let n = buffer.count
        guard n > 0 else { return }
        buffer.withUnsafeMutableBufferPointer { b in
            _ = crypto_stream_chacha20_ietf_xor_ic(b.baseAddress!, b.baseAddress!, UInt64(n), nonce, counter, key)
        }
    }

    /// `data` XOR the keystream starting at block `counter` (RFC 8439 encryption).
    public static func xor(_ data: [UInt8], key: [UInt8], nonce: [UInt8], counter: UInt32 = 0) throws -> [UInt8] {
        try checkLength(key, keyLength, "ChaCha20 key")
        try checkLength(nonce, nonceLength, "ChaCha20 nonce")
        Sodium.ready()
        var out = [UInt8](repeating: 0, count: data.count)
        if !data.isEmpty {
            _ = crypto_stream_chacha20_ietf_xor_ic(&out, data, UInt64(data.count), nonce, counter, key)
        }
        return out
    }
}

/// Mask expansion: the keystream of ChaCha20-IETF (zero nonce, counter from 0) under a derived key,
/// read as little-endian UInt32 words, added to or subtracted from an accumulator mod 2^32.
/// Keys are used for one stream only (the KDF binds them to the session), so the zero nonce is safe.
struct MaskExpander {
    /// Words per chunk: 16 KiB of keystream, a multiple of the 64-byte block.
    static let chunkWords = 2048
    static let blocksPerChunk = UInt32(chunkWords * 4 / 64)
    private var stream = [UInt32](repeating: 0, count: chunkWords)
    private var second = [UInt32](repeating: 0, count: chunkWords)
    private static let nonce = [UInt8](repeating: 0, count: 12)

    init() { Sodium.ready() }

    /// Adds (`negate == false`) or subtracts the words `[chunk*chunkWords, +count)` of the mask
    /// stream of `a` (and of `b`, if given, in the same pass) into `acc[0 ..< count]`, mod 2^32, or
    /// mod 2^64 on little-endian word pairs when `wide`. `count <= chunkWords`, even when `wide`.
    mutating func apply(_ a: MaskKey, negate na: Bool, and b: MaskKey?, negate nb: Bool, chunk: Int, count: Int,
                        wide: Bool, into acc: UnsafeMutablePointer<UInt32>) {
        precondition(count >= 0 && count <= Self.chunkWords && (!wide || count % 2 == 0),
                     "mask chunk of \(count) words (limit \(Self.chunkWords), even when wide)")
        var s1 = stream, s2 = second
        stream = []  // keep the buffers uniquely referenced while they are written
        second = []
        s1.withUnsafeMutableBufferPointer { b1 in
            s2.withUnsafeMutableBufferPointer { b2 in
                let p1 = b1.baseAddress!, p2 = b2.baseAddress!
                Self.words(key: a, chunk: chunk, count: count, into: p1)
                if let b { Self.words(key: b, chunk: chunk, count: count, into: p2) }
                if wide {
                    let n = count / 2
                    acc.withMemoryRebound(to: UInt64.self, capacity: n) { a64 in
                        p1.withMemoryRebound(to: UInt64.self, capacity: n) { q1 in
                            p2.withMemoryRebound(to: UInt64.self, capacity: n) { q2 in
                                Self.accumulate(a64, q1, na, b == nil ? nil : q2, nb, count: n)
                            }
                        }
                    }
                } else {
                    Self.accumulate(acc, p1, na, b == nil ? nil : p2, nb, count: count)
                }
            }
        }
        stream = s1
        second = s2
    }

    /// acc += ±x (± y): (x ^ m) - m is x for m = 0 and -x for m = all ones.
    @inline(__always)
    private static func accumulate<W: FixedWidthInteger & UnsignedInteger>(
        _ acc: UnsafeMutablePointer<W>, _ x: UnsafeMutablePointer<W>, _ nx: Bool,
        _ y: UnsafeMutablePointer<W>?, _ ny: Bool, count: Int
    ) {
        let mx: W = nx ? ~0 : 0
        if let y {
            let my: W = ny ? ~0 : 0
            for i in 0..<count { acc[i] = acc[i] &+ ((x[i] ^ mx) &- mx) &+ ((y[i] ^ my) &- my) }
        } else {
            for i in 0..<count { acc[i] = acc[i] &+ ((x[i] ^ mx) &- mx) }
        }
    }

    /// Fills `out[0..<count]` with the words `[chunk*chunkWords, +count)` of `key`'s stream.
    /// `out` must hold `count` words, `count <= chunkWords` (a precondition: the chunk index
    /// times the blocks per chunk must fit ChaCha20's 32-bit block counter).
    static func words(key: MaskKey, chunk: Int, count: Int, into out: UnsafeMutablePointer<UInt32>) {
        precondition(count >= 0 && count <= chunkWords, "mask chunk of \(count) words exceeds \(chunkWords)")
        precondition(chunk >= 0 && chunk < Int(UInt32.max / blocksPerChunk), "mask chunk \(chunk) beyond ChaCha20's counter")
        Sodium.ready()
        let counter = UInt32(chunk) &* blocksPerChunk
        // Zero the (L1-resident) buffer and XOR the keystream in place: measurably faster than
        // reading a separate zero buffer.
        out.update(repeating: 0, count: count)
        out.withMemoryRebound(to: UInt8.self, capacity: count * 4) { bytes in
            key.secret.withBytes { k in
                _ = crypto_stream_chacha20_ietf_xor_ic(bytes, bytes, UInt64(count * 4), nonce, counter, k)
            }
        }
        #if _endian(big)
        for i in 0..<count { out[i] = UInt32(littleEndian: out[i]) }
        #endif
    }
}

// MARK: - Authenticated encryption (XChaCha20-Poly1305)

/// `crypto_aead_xchacha20poly1305_ietf` with a random 24-byte nonce.
public enum AEAD {
    public static let keyLength = Int(crypto_aead_xchacha20poly1305_ietf_KEYBYTES)
    public static let nonceLength = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
    public static let tagLength = Int(crypto_aead_xchacha20poly1305_ietf_ABYTES)

    public static func seal(_ plaintext: [UInt8], key: SecretBytes, nonce: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        try checkLength(nonce, nonceLength, "XChaCha20-Poly1305 nonce")
        guard key.count == keyLength else {
            throw SecAggError.invalidLength(what: "XChaCha20-Poly1305 key", expected: keyLength, actual: key.count)
        }
        Sodium.ready()
        var out = [UInt8](repeating: 0, count: plaintext.count + tagLength)
        var outLen: UInt64 = 0
        key.withBytes { k in
            _ = crypto_aead_xchacha20poly1305_ietf_encrypt(&out, &outLen, plaintext, UInt64(plaintext.count),
                                                           associatedData, UInt64(associatedData.count),
                                                           nil, nonce, k)
        }
        return out
    }

    /// Throws `decryptionFailed` when the tag does not verify (wrong key, nonce, AD or data).
    public static func open(_ ciphertext: [UInt8], key: SecretBytes, nonce: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        try checkLength(nonce, nonceLength, "XChaCha20-Poly1305 nonce")
        guard ciphertext.count >= tagLength else { throw SecAggError.decryptionFailed }
        var out = [UInt8](repeating: 0, count: ciphertext.count - tagLength)
        var outLen: UInt64 = 0
        let rc = key.withBytes { k in
            crypto_aead_xchacha20poly1305_ietf_decrypt(&out, &outLen, nil, ciphertext, UInt64(ciphertext.count),
                                                       associatedData, UInt64(associatedData.count), nonce, k)
        }
        guard rc == 0 else { throw SecAggError.decryptionFailed }
        return out
    }
}
