/// A named range of the model's flat parameter buffer (e.g. the shared core, or one organ's head).
public struct Block: Equatable, Hashable, Sendable {
    public let name: String
    public let offset: Int
    public let count: Int
    public init(name: String, offset: Int, count: Int) {
        self.name = name
        self.offset = offset
        self.count = count
    }
    public var range: Range<Int> { offset ..< offset + count }
}

/// The blocks of the flat parameter vector, in order, covering it exactly.
public struct VectorLayout: Equatable, Sendable {
    public let blocks: [Block]
    /// Number of model parameters (the sum of the block counts).
    public let parameterCount: Int

    public init(blocks: [Block]) throws {
        guard !blocks.isEmpty else {
            throw SecAggError.invalidConfiguration(parameter: "layout.blocks", reason: "no blocks")
        }
        var next = 0
        var names = Set<String>()
        for b in blocks {
            guard b.offset == next, b.count > 0 else {
                throw SecAggError.invalidConfiguration(parameter: "layout.blocks",
                                                       reason: "block '\(b.name)' must start at \(next) and be non-empty")
            }
            guard names.insert(b.name).inserted else {
                throw SecAggError.invalidConfiguration(parameter: "layout.blocks", reason: "duplicate block name '\(b.name)'")
            }
            next += b.count
        }
        self.blocks = blocks
        parameterCount = next
    }

    /// One block holding the whole vector.
    public static func single(name: String = "model", count: Int) throws -> VectorLayout {
        try VectorLayout(blocks: [Block(name: name, offset: 0, count: count)])
    }

    /// Words of the masked vector: the parameters, then one weight sum and one contributor
    /// count per block (so the server learns those only as sums too).
    public var maskedLength: Int { parameterCount + 2 * blocks.count }
}

/// Fixed-point quantisation of an update (the difference from the round's global model).
///
/// Each element x is clipped to [-clip, clip] and mapped to u = (x + clip) * levels / (2 clip) in
/// [0, levels], then rounded stochastically: up with probability frac(u), down otherwise (16
/// random bits per element from a ChaCha20 stream, so E[q] = u to within 2^-17 of a level). A node's word is weight * q with its block
/// weight, and the server sums n such words, so `clients * maxWeight * levels < 2^32` is required.
///
/// Error bound: for each element, the dequantised weighted mean differs from the weighted mean of
/// the clipped inputs by less than one quantum, `2 clip / levels` (each node's rounding error is
/// below 1 level and the mean is a convex combination), plus Float rounding of the result.
/// Rounding errors are independent and unbiased, so the typical error is far smaller.
public struct Quantisation: Equatable, Hashable, Sendable {
    public let clip: Float
    public let levels: UInt32
    /// Largest per-block weight (sample count) a node may send.
    public let maxWeight: UInt32
    /// The masked arithmetic: 32 (Z_2^32, the default) or 64 (Z_2^64: twice the keystream and
    /// bandwidth; only for configurations whose sums cannot fit 32 bits).
    public let modulusBits: Int

    public init(clip: Float, levels: UInt32, maxWeight: UInt32, modulusBits: Int = 32) throws {
        guard clip.isFinite, clip > 0 else {
            throw SecAggError.invalidConfiguration(parameter: "quantisation.clip", reason: "must be finite and > 0, is \(clip)")
        }
        guard levels >= 1 else {
            throw SecAggError.invalidConfiguration(parameter: "quantisation.levels", reason: "must be >= 1")
        }
        guard maxWeight >= 1 else {
            throw SecAggError.invalidConfiguration(parameter: "quantisation.maxWeight", reason: "must be >= 1")
        }
        guard modulusBits == 32 || modulusBits == 64 else {
            throw SecAggError.invalidConfiguration(parameter: "quantisation.modulusBits", reason: "must be 32 or 64, is \(modulusBits)")
        }
        self.clip = clip
        self.levels = levels
        self.maxWeight = maxWeight
        self.modulusBits = modulusBits
    }

    /// 32-bit words per masked element.
    public var wordsPerElement: Int { modulusBits / 32 }

    /// The largest `levels` that cannot overflow with `clients` nodes of weight up to `maxWeight`.
    public static func maximumLevels(clients: Int, maxWeight: UInt32) -> UInt32 {
        let limit = (UInt64(1) << 32) - 1
        return UInt32(clamping: limit / (UInt64(max(clients, 1)) * UInt64(maxWeight)))
    }

    /// One quantisation step: the bound on the per-element error of the weighted mean.
    public var quantum: Double { 2 * Double(clip) / Double(levels) }

    /// Refuses a configuration whose sum over `clients` nodes could wrap mod 2^modulusBits.
    func checkOverflow(clients: Int) throws {
        let (nw, o1) = UInt64(clients).multipliedReportingOverflow(by: UInt64(maxWeight))
        let (total, o2) = nw.multipliedReportingOverflow(by: UInt64(levels))
        let fits = modulusBits == 64 ? !o1 && !o2 : !o1 && !o2 && total < (UInt64(1) << 32)
        guard fits else {
            throw SecAggError.quantisationOverflow(
                "clients (\(clients)) x quantisation.maxWeight (\(maxWeight)) x quantisation.levels (\(levels)) must stay below 2^\(modulusBits); "
                    + "lower quantisation.levels to at most \(Quantisation.maximumLevels(clients: clients, maxWeight: maxWeight)) or lower quantisation.maxWeight"
                    + (modulusBits == 32 ? " (or set quantisation.modulusBits to 64, doubling the mask keystream)" : ""))
        }
    }
}

/// Everything the server and every client of one round must agree on. The digest of all of it is
/// bound into every signature and key derivation.
public struct SecAggConfig: Sendable {
    public let round: UInt64
    /// Long-term identity keys; a user's id is its index here.
    public let roster: [Identity.PublicKey]
    /// Shamir threshold t for each user's holder set; must exceed half of it.
    public let threshold: Int
    public let layout: VectorLayout
    public let quantisation: Quantisation
    /// SecAgg+ degree k (nil: every user is every other user's neighbour).
    public let neighbours: Int?
    /// Public randomness (32 bytes) from which the neighbourhood graph is drawn.
    public let publicSeed: [UInt8]
    /// Allow releasing a block with a single contributor (it discloses that node's values).
    public let allowSmallBlocks: Bool
    /// BLAKE2b-256 of all of the above.
    public let digest: [UInt8]
    /// Each user's holders (itself and its neighbours), sorted; a holder's Shamir x is its index + 1.
    let holderLists: [[UInt32]]?

    public init(round: UInt64, roster: [Identity.PublicKey], threshold: Int, layout: VectorLayout,
                quantisation: Quantisation, neighbours: Int? = nil,
                publicSeed: [UInt8] = [UInt8](repeating: 0, count: 32), allowSmallBlocks: Bool = false) throws {
        let n = roster.count
        guard n >= 2, n <= Int(UInt32.max) else {
            throw SecAggError.invalidConfiguration(parameter: "roster", reason: "needs at least 2 users, has \(n)")
        }
        guard Set(roster).count == n else {
            throw SecAggError.invalidConfiguration(parameter: "roster", reason: "duplicate identity keys")
        }
        try checkLength(publicSeed, 32, "publicSeed")
        var holderCount = n
        var k: Int? = neighbours
        if let kk = neighbours {
            guard kk >= 2 else {
                throw SecAggError.invalidConfiguration(parameter: "neighbours", reason: "must be >= 2, is \(kk)")
            }
            if kk >= n - 1 {
                k = nil  // the complete graph
            } else {
                guard kk % 2 == 0 || n % 2 == 0 else {
                    throw SecAggError.invalidConfiguration(parameter: "neighbours",
                                                           reason: "an odd degree \(kk) needs an even number of users, have \(n)")
                }
                holderCount = kk + 1
            }
        }
        guard holderCount <= Shamir.maximumShares else {
            throw SecAggError.invalidConfiguration(parameter: "neighbours",
                                                   reason: "\(holderCount) share holders per user exceed GF(2^8)'s 255: set neighbours (SecAgg+) below 255")
        }
        guard threshold <= holderCount, 2 * threshold > holderCount else {
            throw SecAggError.invalidConfiguration(parameter: "threshold",
                                                   reason: "\(threshold) must exceed half of, and not exceed, the \(holderCount) holders of each secret")
        }
        try quantisation.checkOverflow(clients: n)
        self.round = round
        self.roster = roster
        self.threshold = threshold
        self.layout = layout
        self.quantisation = quantisation
        self.neighbours = k
        self.publicSeed = publicSeed
        self.allowSmallBlocks = allowSmallBlocks

        var h = try! BLAKE2b(outputLength: 32)
        var w = ByteWriter()
        w.bytes(Array("segviz-secagg/v1 config".utf8))
        w.u64(round)
        w.u32(UInt32(n))
        for key in roster { w.bytes(key.rawRepresentation) }
        w.u32(UInt32(threshold))
        w.u32(UInt32(k ?? 0))
        w.bytes(publicSeed)
        w.u8(allowSmallBlocks ? 1 : 0)
        w.u32(quantisation.clip.bitPattern)
        w.u32(quantisation.levels)
        w.u32(quantisation.maxWeight)
        w.u32(UInt32(quantisation.modulusBits))
        w.u32(UInt32(layout.blocks.count))
        for b in layout.blocks {
            let name = Array(b.name.utf8)
            w.u32(UInt32(name.count))
            w.bytes(name)
            w.u64(UInt64(b.offset))
            w.u64(UInt64(b.count))
        }
        h.update(w.data)
        digest = h.finalize()
        if let k {
            holderLists = NeighbourGraph.holders(users: n, degree: k, seed: digest)
        } else {
            holderLists = nil
        }
    }

    public var userCount: Int { roster.count }

    /// 32-bit words of a masked vector: elements (parameters, block weights, contributor counts)
    /// times the words per element.
    public var maskedWords: Int { layout.maskedLength * quantisation.wordsPerElement }

    /// The users holding shares of `user`'s secrets (itself included), sorted by id.
    public func holders(of user: UInt32) -> [UInt32] {
        if let holderLists { return holderLists[Int(user)] }
        return (0 ..< UInt32(roster.count)).map { $0 }
    }

    /// Whether `a` and `b` mask with each other and hold each other's shares.
    func areNeighbours(_ a: UInt32, _ b: UInt32) -> Bool {
        guard let holderLists else { return true }
        return holderLists[Int(a)].contains(b)
    }

    /// `holder`'s Shamir x-coordinate for shares of `owner`'s secrets (nil if not a holder).
    func shareX(owner: UInt32, holder: UInt32) -> UInt8? {
        guard let holderLists else { return UInt8(holder + 1) }
        guard let i = holderLists[Int(owner)].firstIndex(of: holder) else { return nil }
        return UInt8(i + 1)
    }

    func checkUser(_ user: UInt32) throws {
        guard Int(user) < roster.count else { throw SecAggError.unknownUser(user) }
    }
}

/// SecAgg+ neighbourhoods: a k-regular Harary graph on a random permutation of the users, the
/// permutation drawn from the configuration digest (public: round, roster and public seed).
enum NeighbourGraph {
    static func holders(users n: Int, degree k: Int, seed: [UInt8]) -> [[UInt32]] {
        let key = try! BLAKE2b.hash(Array("segviz-secagg/v1 graph".utf8) + seed, outputLength: 32)
        var stream = DeterministicStream(key: key)
        // Fisher-Yates with rejection sampling (no modulo bias).
        var order = (0 ..< UInt32(n)).map { $0 }
        var i = n - 1
        while i > 0 {
            let bound = UInt32(i + 1)
            let limit = UInt32.max - UInt32.max % bound
            var r: UInt32
            repeat { r = stream.nextWord() } while r >= limit
            order.swapAt(i, Int(r % bound))
            i -= 1
        }
        var lists = [Set<UInt32>](repeating: [], count: n)
        for p in 0 ..< n {
            let u = order[p]
            lists[Int(u)].insert(u)
            for d in 1 ... k / 2 {
                lists[Int(u)].insert(order[(p + d) % n])
                lists[Int(u)].insert(order[(p - d + n) % n])
            }
            if k % 2 == 1 { lists[Int(u)].insert(order[(p + n / 2) % n]) }
        }
        return lists.map { $0.sorted() }
    }
}

/// A ChaCha20 stream of words from a public key (graph sampling).
struct DeterministicStream {
    let key: [UInt8]
    var buffer: [UInt32] = []
    var position = 0
    var block: UInt32 = 0

    init(key: [UInt8]) { self.key = key }

    mutating func nextWord() -> UInt32 {
        if position == buffer.count {
            let bytes = try! ChaCha20.keystream(count: 1024, key: key, counter: block)
            block += 16
            var r = ByteReader(bytes, message: "graph stream")
            buffer = (0 ..< bytes.count / 4).map { _ in try! r.u32() }
            position = 0
        }
        position += 1
        return buffer[position - 1]
    }
}
