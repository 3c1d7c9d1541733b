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

    /// The largest `levels` that cannot overflow with `clients` nodes of weight up to `maxWeight`
    /// in Z_2^`modulusBits` (32 unless given).
    public static func maximumLevels(clients: Int, maxWeight: UInt32, modulusBits: Int = 32) -> UInt32 {
        let limit = modulusBits == 64 ? UInt64.max : (UInt64(1) << 32) - 1
        return UInt32(clamping: limit / (UInt64(max(clients, 1)) * UInt64(max(maxWeight, 1))))
    }

    /// One quantisation step: the bound on the per-element error of the weighted mean.
    public var quantum: Double { 2 * Double(clip) / Double(levels) }

    /// Refuses a configuration whose sum over `clients` nodes could wrap mod 2^modulusBits.
    func checkOverflow(clients: Int) throws {
        let (nw, o1) = UInt64(clients).multipliedReportingOverflow(by: UInt64(maxWeight))
        let (total, o2) = nw.multipliedReportingOverflow(by: UInt64(levels))
        let fits = modulusBits == 64 ? !o1 && !o2 : !o1 && !o2 && total < (UInt64(1) << 32)
        guard fits else {
            throw SecAggError.quantisationOverflow(clients: clients, maxWeight: maxWeight, levels: levels, modulusBits: modulusBits)
        }
    }
}

/// Everything the server and every client of one round must agree on. The digest of all of it is
/// bound into every signature and key derivation.
public struct SecAggConfig: Sendable {
    /// The protocol version this configuration (and every message of its round) speaks.
    public let protocolVersion: UInt8
    public let round: UInt64
    /// Long-term identity keys; a user's id is its index here.
    public let roster: [Identity.PublicKey]
    /// Shamir threshold t for each user's holder set (default floor(2h/3) + 1 of h holders).
    public let threshold: Int
    /// Which collusion the threshold tolerates (weaker choices must be explicit).
    public let collusionTolerance: CollusionTolerance
    public let layout: VectorLayout
    public let quantisation: Quantisation
    /// SecAgg+ degree k (nil: every user is every other user's neighbour).
    public let neighbours: Int?
    /// Public randomness (32 bytes) bound into the digest (the federation's round session).
    public let publicSeed: [UInt8]
    /// Allow releasing a block with a single contributor (it discloses that node's values, and
    /// possibly its weight).
    public let allowSmallBlocks: Bool
    /// Who contributes to which block: `blockMap[user][block]`. Signed (in the digest), so a
    /// server cannot isolate a block by lying about its contributors.
    public let blockMap: [[Bool]]
    /// The application's context (32 bytes; e.g. a hash of federation, round and global model)
    /// that every client compares with the value it expects before sending its masked input.
    public let boundContext: [UInt8]
    /// BLAKE2b-256 of all of the above.
    public let digest: [UInt8]
    /// Blocks with the same contributor set, and what the masked vector's tail carries for them.
    let groups: ContributionGroups
    /// Defences switched off by a test (see `Weakening`); never part of the digest.
    var weakened: Set<Weakening>

    public static let contextLength = 32

    /// Validates and digests a round's configuration. `threshold` nil: the safe default
    /// floor(2h/3) + 1; a weaker one needs `collusionTolerance: .none`. `blockMap` nil: every
    /// user contributes to every block. Refuses (`tooFewContributors`, `weightDisclosed`) a block
    /// map that would disclose a node's values or weight even with every user present.
    public init(round: UInt64, roster: [Identity.PublicKey], threshold: Int? = nil, layout: VectorLayout,
                quantisation: Quantisation, neighbours: Int? = nil,
                publicSeed: [UInt8] = [UInt8](repeating: 0, count: 32), allowSmallBlocks: Bool = false,
                blockMap: [[Bool]]? = nil, collusionTolerance: CollusionTolerance = .colludingClients,
                boundContext: [UInt8] = [UInt8](repeating: 0, count: 32)) throws {
        try self.init(round: round, roster: roster, threshold: threshold, layout: layout, quantisation: quantisation,
                      neighbours: neighbours, publicSeed: publicSeed, allowSmallBlocks: allowSmallBlocks, blockMap: blockMap,
                      collusionTolerance: collusionTolerance, boundContext: boundContext, weakened: [])
    }

    /// The same with defences switched off (tests only, through `@testable import`).
    init(round: UInt64, roster: [Identity.PublicKey], threshold: Int?, layout: VectorLayout,
         quantisation: Quantisation, neighbours: Int?, publicSeed: [UInt8], allowSmallBlocks: Bool,
         blockMap: [[Bool]]?, collusionTolerance: CollusionTolerance, boundContext: [UInt8],
         weakened: Set<Weakening>) throws {
        self.weakened = weakened
        let n = roster.count
        guard n >= 2, n <= WireFormat.maximumUsers else {
            throw SecAggError.invalidConfiguration(parameter: "roster", reason: "needs 2...\(WireFormat.maximumUsers) users, has \(n)")
        }
        guard Set(roster).count == n else {
            throw SecAggError.invalidConfiguration(parameter: "roster", reason: "duplicate identity keys")
        }
        try checkLength(publicSeed, 32, "publicSeed")
        try checkLength(boundContext, Self.contextLength, "boundContext")
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
        let minimum = collusionTolerance.minimumThreshold(holders: holderCount)
        let t = threshold ?? CollusionTolerance.colludingClients.minimumThreshold(holders: holderCount)
        guard t <= holderCount, t >= minimum else {
            let hint = collusionTolerance == .colludingClients
                ? " (a weaker threshold needs the explicit choice collusionTolerance: none)" : ""
            throw SecAggError.invalidConfiguration(parameter: "threshold",
                                                   reason: "\(t) must be within \(minimum)...\(holderCount) for \(holderCount) holders of each secret with collusionTolerance \(collusionTolerance.rawValue)\(hint)")
        }
        let map = blockMap ?? [[Bool]](repeating: [Bool](repeating: true, count: layout.blocks.count), count: n)
        guard map.count == n, map.allSatisfy({ $0.count == layout.blocks.count }) else {
            throw SecAggError.invalidConfiguration(parameter: "blockMap",
                                                   reason: "needs \(n) rows (users) of \(layout.blocks.count) entries (blocks)")
        }
        try quantisation.checkOverflow(clients: n)
        protocolVersion = WireFormat.version
        self.round = round
        self.roster = roster
        self.threshold = t
        self.collusionTolerance = collusionTolerance
        self.layout = layout
        self.quantisation = quantisation
        self.neighbours = k
        self.publicSeed = publicSeed
        self.allowSmallBlocks = allowSmallBlocks
        self.blockMap = map
        self.boundContext = boundContext
        groups = ContributionGroups(blockMap: map)

        var w = ByteWriter()
        w.bytes(Array("segviz-secagg config".utf8))
        w.u8(protocolVersion)
        w.u64(round)
        w.u32(UInt32(n))
        for key in roster { w.bytes(key.rawRepresentation) }
        w.u32(UInt32(t))
        w.bytes(Array(collusionTolerance.rawValue.utf8))
        w.u8(0)
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
        for row in map { for c in row { w.u8(c ? 1 : 0) } }
        w.bytes(boundContext)
        digest = BLAKE2b.hash(w.data, length: .bytes32)

        // Refuse at once what every round of this configuration would refuse.
        let everyone = Set(0 ..< UInt32(n))
        try checkContributors(survivors: everyone)
    }

    public var userCount: Int { roster.count }

    /// The smallest number of contributors a block may be released with.
    public var minimumContributors: Int { allowSmallBlocks ? 1 : 2 }

    /// Elements of the masked vector: the parameters, then per contribution group (blocks with
    /// the same contributor set) one weight sum and one contributor count.
    public var maskedLength: Int { layout.parameterCount + 2 * groups.count }

    /// 32-bit words of a masked vector: elements times the words per element.
    public var maskedWords: Int { maskedLength * quantisation.wordsPerElement }

    func checkUser(_ user: UInt32) throws {
        guard Int(user) < roster.count else { throw SecAggError.unknownUser(user) }
    }

    /// What both the clients (before revealing any share) and the server (before unmasking)
    /// check for a survivor set: every block with any surviving contributor keeps at least
    /// `minimumContributors`, and no survivor's weight follows from the released weight sums.
    func checkContributors(survivors: Set<UInt32>) throws {
        if !weakened.contains(.blockMinimum) {
            for (b, block) in layout.blocks.enumerated() {
                let c = groups.members[groups.blockGroup[b]].filter { survivors.contains($0) }.count
                if c > 0, c < minimumContributors {
                    throw SecAggError.tooFewContributors(block: block.name, contributors: c)
                }
            }
        }
        if !allowSmallBlocks, !weakened.contains(.weightDisclosure),
           let u = groups.derivableWeight(survivors: survivors) {
            throw SecAggError.weightDisclosed(user: u)
        }
    }
}

/// Blocks grouped by contributor set. Every node sends one weight per round (the same in each
/// block it contributes to); the masked vector carries it once per group, so the server learns
/// one weight sum per distinct contributor set, never per block.
struct ContributionGroups: Sendable {
    /// Group of each block.
    let blockGroup: [Int]
    /// Sorted contributor ids of each group.
    let members: [[UInt32]]

    init(blockMap: [[Bool]]) {
        let blocks = blockMap.first?.count ?? 0
        var index: [[UInt32]: Int] = [:]
        var members: [[UInt32]] = []
        var blockGroup: [Int] = []
        for b in 0 ..< blocks {
            let set = blockMap.indices.filter { blockMap[$0][b] }.map { UInt32($0) }
            if let g = index[set] {
                blockGroup.append(g)
            } else {
                index[set] = members.count
                blockGroup.append(members.count)
                members.append(set)
            }
        }
        self.blockGroup = blockGroup
        self.members = members
    }

    var count: Int { members.count }

    /// A survivor whose weight is a linear combination of the released group weight sums
    /// (restricted to `survivors`), if any: then the sums would disclose its sample count.
    /// The sums determine w_u exactly when the unit vector e_u lies in the row space of the
    /// group-by-survivor incidence matrix, i.e. when some row of its reduced row echelon form has
    /// a single non-zero entry (entries are small rationals; 1e-9 separates zero from non-zero).
    func derivableWeight(survivors: Set<UInt32>) -> UInt32? {
        let users = survivors.sorted()
        let column = Dictionary(uniqueKeysWithValues: users.enumerated().map { ($1, $0) })
        var rows: [[Double]] = []
        for m in members {
            var row = [Double](repeating: 0, count: users.count)
            var any = false
            for u in m { if let c = column[u] { row[c] = 1; any = true } }
            if any { rows.append(row) }
        }
        var pivotRow = 0
        for c in 0 ..< users.count where pivotRow < rows.count {
            guard let p = (pivotRow ..< rows.count).first(where: { abs(rows[$0][c]) > 1e-9 }) else { continue }
            rows.swapAt(pivotRow, p)
            let inv = 1 / rows[pivotRow][c]
            for j in 0 ..< users.count { rows[pivotRow][j] *= inv }
            for r in 0 ..< rows.count where r != pivotRow && abs(rows[r][c]) > 1e-9 {
                let f = rows[r][c]
                for j in 0 ..< users.count { rows[r][j] -= f * rows[pivotRow][j] }
            }
            pivotRow += 1
        }
        for r in rows.prefix(pivotRow) {
            let nonZero = r.indices.filter { abs(r[$0]) > 1e-9 }
            if nonZero.count == 1 { return users[nonZero[0]] }
        }
        return nil
    }
}
