/// A node's contribution to one round: its update (the difference from the round's global model,
/// as the flat parameter buffer) and one weight per block of the layout (0: the node does not
/// contribute to that block, e.g. an organ it does not annotate; otherwise usually its sample count).
public struct ClientUpdate: Sendable {
    public let values: [Float]
    public let blockWeights: [UInt32]
    public init(values: [Float], blockWeights: [UInt32]) {
        self.values = values
        self.blockWeights = blockWeights
    }

    /// The same weight for every block.
    public init(values: [Float], weight: UInt32, layout: VectorLayout) {
        self.init(values: values, blockWeights: [UInt32](repeating: weight, count: layout.blocks.count))
    }

    /// Checks the update against the configuration and returns this node's one weight (0 if it
    /// contributes to no block): values fit the layout, weights are non-zero exactly in the
    /// blocks the signed block map gives user `id`, and are all equal (one weight per node per
    /// round, so that the released weight sums are per contributor set, see `ContributionGroups`).
    func validate(against config: SecAggConfig, id: UInt32) throws -> UInt32 {
        let layout = config.layout
        guard values.count == layout.parameterCount else {
            throw SecAggError.invalidUpdate(user: id, problem: .valueCount(values.count, expected: layout.parameterCount))
        }
        guard blockWeights.count == layout.blocks.count else {
            throw SecAggError.invalidUpdate(user: id, problem: .blockWeightCount(blockWeights.count, expected: layout.blocks.count))
        }
        var weight: UInt32 = 0
        for (b, w) in blockWeights.enumerated() {
            let name = layout.blocks[b].name
            guard (w > 0) == config.blockMap[Int(id)][b] else {
                throw SecAggError.invalidUpdate(user: id, problem: .weightContradictsBlockMap(block: name, weight: w,
                                                                                              contributes: config.blockMap[Int(id)][b]))
            }
            guard w <= config.quantisation.maxWeight else {
                throw SecAggError.invalidUpdate(user: id, problem: .weightAboveMaximum(block: name, weight: w, maximum: config.quantisation.maxWeight))
            }
            if w > 0 {
                guard weight == 0 || w == weight else {
                    throw SecAggError.invalidUpdate(user: id, problem: .unequalWeights(block: name, weight: w, first: weight))
                }
                weight = w
            }
        }
        // NaN iff |bits| > the bits of +infinity; a branch-free OR over integer compares vectorises.
        var nanSeen: Int32 = 0
        values.withUnsafeBufferPointer { v in
            for x in v { nanSeen |= Int32(bitPattern: x.bitPattern & 0x7fff_ffff) > 0x7f80_0000 ? 1 : 0 }
        }
        if nanSeen != 0, let i = values.firstIndex(where: { $0.isNaN }) {
            throw SecAggError.invalidUpdate(user: id, problem: .notANumber(index: i))
        }
        return weight
    }
}

/// A 32-byte ChaCha20 key used for exactly one mask stream.
struct MaskKey {
    let secret: SecretBytes
}

/// Key derivation bound to the session: keyed BLAKE2b-256 (key = the input secret) of a label
/// and the session id (itself a hash of the configuration digest, which holds the round, and of
/// every advertised key).
public enum KeyDerivation {
    /// keyed BLAKE2b-256(key: secret; label, session, and for pairwise keys both user ids in
    /// canonical order, so that no two pairs can share a key even if they shared a secret).
    public static func derive(from secret: SecretBytes, label: String, session: [UInt8],
                              pair: (UInt32, UInt32)? = nil) -> SecretBytes {
        var w = ByteWriter()
        w.bytes(Array("segviz-secagg kdf".utf8))
        let l = Array(label.utf8)
        w.u32(UInt32(l.count))
        w.bytes(l)
        w.bytes(session)
        if let (a, b) = pair {
            w.u32(min(a, b))
            w.u32(max(a, b))
        }
        return SecretBytes(BLAKE2b.hash(w.data, length: .bytes32, key: secret))
    }

    /// The session id: the configuration digest (version, round, roster, parameters) and every
    /// advertised key and seed commitment of U1, in sender order.
    public static func sessionID(config: SecAggConfig, advertisements: [AdvertiseKeysMessage]) -> [UInt8] {
        var w = ByteWriter(capacity: 64 + advertisements.count * 100)
        w.bytes(Array("segviz-secagg session".utf8))
        w.bytes(config.digest)
        w.u32(UInt32(advertisements.count))
        for a in advertisements {
            w.u32(a.sender)
            w.bytes(a.encryptionKey.rawRepresentation)
            w.bytes(a.maskingKey.rawRepresentation)
            w.bytes(a.seedCommitment)
        }
        return BLAKE2b.hash(w.data, length: .bytes32)
    }

    public static let pairwiseMaskLabel = "pairwise-mask"
    public static let selfMaskLabel = "self-mask"
    public static let shareEncryptionLabel = "share-encryption"

    /// The mask key of the pair (u, v) from their X25519 masking-key agreement, bound to both
    /// ids (unless a test weakened the configuration: finding 1's vulnerable form).
    static func pairwiseMaskKey(_ agreement: SecretBytes, session: [UInt8], pair: (UInt32, UInt32),
                                config: SecAggConfig) -> MaskKey {
        let bound = config.weakened.contains(.pairwiseBinding) ? nil : pair
        return MaskKey(secret: derive(from: agreement, label: pairwiseMaskLabel, session: session, pair: bound))
    }

    /// The share-encryption key of the pair (u, v), bound to both ids.
    public static func shareEncryptionKey(_ agreement: SecretBytes, session: [UInt8], pair: (UInt32, UInt32)) -> SecretBytes {
        derive(from: agreement, label: shareEncryptionLabel, session: session, pair: pair)
    }

    static func selfMaskKey(seed: SecretBytes, session: [UInt8]) -> MaskKey {
        MaskKey(secret: derive(from: seed, label: selfMaskLabel, session: session))
    }

    /// The mask words (`count` of them) a derived key expands to: ChaCha20-IETF keystream, zero
    /// nonce, counter from 0, as little-endian UInt32.
    public static func maskWords(key: SecretBytes, count: Int) -> [UInt32] {
        var out = [UInt32](repeating: 0, count: count)
        MaskArithmetic.apply([MaskTerm(key: MaskKey(secret: key), negate: false)], to: &out)
        return out
    }
}

/// One mask stream to add (or subtract) over the whole masked vector.
struct MaskTerm {
    let key: MaskKey
    let negate: Bool
}

enum MaskArithmetic {
    /// Adds every term's stream into `acc` mod 2^32, chunk by chunk so that each 16 KiB slice of
    /// the accumulator stays in L1 while all keystreams for it are generated and added.
    /// `prepare(chunk, range, pointer)` runs first on each chunk (the client writes its quantised
    /// values there).
    static func apply(_ terms: [MaskTerm], to acc: inout [UInt32], wide: Bool = false) {
        acc.withUnsafeMutableBufferPointer { apply(terms, to: $0, wide: wide) }
    }

    /// The same on a buffer; `prepare` runs first on each chunk and must initialise every word of
    /// it (the client writes its quantised values there) when the buffer starts uninitialised.
    static func apply(_ terms: [MaskTerm], to buf: UnsafeMutableBufferPointer<UInt32>, wide: Bool = false,
                      prepare: (Int, Range<Int>, UnsafeMutablePointer<UInt32>, inout MaskExpander) -> Void = { _, _, _, _ in }) {
        var expander = MaskExpander()
        let n = buf.count
        let w = MaskExpander.chunkWords
        guard let base = buf.baseAddress else { return }
        var chunk = 0
        var start = 0
        while start < n {
            let count = min(w, n - start)
            let p = base + start
            prepare(chunk, start ..< start + count, p, &expander)
            // Two streams per pass over the accumulator chunk.
            var j = 0
            while j < terms.count {
                let second = j + 1 < terms.count ? terms[j + 1] : nil
                expander.apply(terms[j].key, negate: terms[j].negate, and: second?.key, negate: second?.negate ?? false,
                               chunk: chunk, count: count, wide: wide, into: p)
                j += 2
            }
            chunk += 1
            start += count
        }
    }

    /// The client's masked vector: weighted quantised values, then per contribution group the
    /// node's weight and a contributor flag (0 outside its groups), plus the self mask and the
    /// pairwise masks; one word per element mod 2^32, or a little-endian pair of words per
    /// element mod 2^64.
    static func maskedInput(update: ClientUpdate, weight: UInt32, id: UInt32, config: SecAggConfig, roundingKey: MaskKey,
                            terms: [MaskTerm]) -> [UInt32] {
        let layout = config.layout
        let wpe = config.quantisation.wordsPerElement
        let inGroup = config.groups.members.map { $0.contains(id) }
        let tail = inGroup.map { $0 ? weight : 0 } + inGroup.map { $0 ? 1 : 0 }
        let words = config.maskedWords
        var random = [UInt32](repeating: 0, count: MaskExpander.chunkWords)
        let q = Quantiser(config.quantisation)
        // `fill` reads the values through a pointer: their count is the layout's (validated at start).
        precondition(update.values.count == layout.parameterCount && tail.count == config.maskedLength - layout.parameterCount)
        // Every word is written by `prepare` before any mask is added to it.
        let out = [UInt32](unsafeUninitializedCapacity: words) { buffer, initialised in
            update.values.withUnsafeBufferPointer { values in
                random.withUnsafeMutableBufferPointer { rnd in
                    apply(terms, to: UnsafeMutableBufferPointer(rebasing: buffer[0 ..< words]), wide: wpe == 2) { chunk, wordRange, dst, _ in
                        let range = wordRange.lowerBound / wpe ..< wordRange.upperBound / wpe  // elements
                        precondition(range.upperBound <= config.maskedLength && wordRange.count == range.count * wpe)
                        // 16 random bits per element: at most half a chunk of the rounding stream.
                        let randomWords = (range.count + 1) / 2
                        precondition(randomWords <= rnd.count)
                        MaskExpander.words(key: roundingKey, chunk: chunk, count: randomWords, into: rnd.baseAddress!)
                        rnd.baseAddress!.withMemoryRebound(to: UInt16.self, capacity: 2 * rnd.count) { bits in
                            if wpe == 1 {
                                fill(dst, elements: range, values: values.baseAddress!, bits: bits, tail: tail, update: update, layout: layout, q: q)
                            } else {
                                dst.withMemoryRebound(to: UInt64.self, capacity: range.count) { d64 in
                                    fill(d64, elements: range, values: values.baseAddress!, bits: bits, tail: tail, update: update, layout: layout, q: q)
                                }
                            }
                        }
                    }
                }
            }
            initialised = words
        }
        wipe(&random)
        return out
    }

    /// Writes the quantised weighted values and the tail (group weights, contributor flags) of
    /// the elements `range` to `dst` (element `range.lowerBound` at `dst[0]`).
    @inline(__always)
    private static func fill<W: FixedWidthInteger & UnsignedInteger>(
        _ dst: UnsafeMutablePointer<W>, elements range: Range<Int>, values: UnsafePointer<Float>, bits: UnsafePointer<UInt16>,
        tail: [UInt32], update: ClientUpdate, layout: VectorLayout, q: Quantiser
    ) {
        let p = layout.parameterCount
        for (b, block) in layout.blocks.enumerated() {
            let lo = max(block.offset, range.lowerBound)
            let hi = min(block.offset + block.count, range.upperBound, p)
            if lo >= hi { continue }
            q.quantise(values + lo, count: hi - lo, weight: update.blockWeights[b],
                       random: bits + (lo - range.lowerBound), into: dst + (lo - range.lowerBound))
        }
        var i = max(range.lowerBound, p)
        while i < range.upperBound {
            dst[i - range.lowerBound] = W(tail[i - p])
            i += 1
        }
    }
}

/// Clipping, scaling and unbiased stochastic rounding (see `Quantisation`).
struct Quantiser {
    let clip: Double
    let scale: Double
    let levels: UInt32

    init(_ q: Quantisation) {
        clip = Double(q.clip)
        scale = Double(q.levels) / (2 * Double(q.clip))
        levels = q.levels
    }

    /// `out[i] = weight * q(x[i])`: q = floor(u + (r + 1/2) / 2^16) with r = `random[i]` uniform
    /// 16 bits, which is floor(u) + 1 with probability frac(u) to within 2^-17 (u >= 0, so
    /// truncation is floor; Double rounding of the sum is below 2^-21 of a level for u < 2^32).
    func quantise<W: FixedWidthInteger & UnsignedInteger>(_ x: UnsafePointer<Float>, count: Int, weight: UInt32,
                                                          random: UnsafePointer<UInt16>, into out: UnsafeMutablePointer<W>) {
        if weight == 0 {
            out.update(repeating: 0, count: count)
            return
        }
        let c = clip, s = scale, top = Double(levels)
        let w = W(weight)
        let k = 1.0 / 65536.0
        // floor without a trapping conversion, so the loop vectorises: for 0 <= u < 2^52,
        // u + 2^52 rounds u to the nearest integer in the low mantissa bits.
        let magic = 4_503_599_627_370_496.0
        for i in 0 ..< count {
            let d = Double(x[i])
            let v = d >= -c ? (d <= c ? d : c) : -c  // also maps NaN to -clip: never traps
            let u = (v + c) * s + (Double(random[i]) + 0.5) * k
            let nearest = (u + magic) - magic
            let f = nearest > u ? nearest - 1 : nearest
            let q = f < top ? f : top
            out[i] = W(truncatingIfNeeded: (q + magic).bitPattern & 0xffff_ffff) &* w
        }
    }

    /// Inverse map of a sum of `weight`-weighted quantised values: sum of weight * x.
    func dequantise(_ sum: UInt64, totalWeight: UInt64) -> Double {
        Double(sum) / scale - clip * Double(totalWeight)
    }
}

/// What the server learns: sums only.
public struct AggregateResult: Sendable {
    public let layout: VectorLayout
    /// Per element: the sum over surviving nodes of block weight x clipped value (dequantised).
    public let weightedSums: [Float]
    /// Per block: the sum of the surviving nodes' weights.
    public let blockWeights: [UInt64]
    /// Per block: how many surviving nodes contributed (weight > 0).
    public let blockContributors: [Int]
    /// U3: the users whose inputs are in the sums.
    public let survivors: [UInt32]
    /// Bound on each element's error in `weightedMean()` (one quantum, 2 clip / levels), plus
    /// Float rounding.
    public let meanErrorBound: Double

    /// Per element: weighted sum / block weight sum; 0 (no change) in blocks nobody contributed to.
    public func weightedMean() -> [Float] {
        var out = [Float](repeating: 0, count: weightedSums.count)
        for (b, block) in layout.blocks.enumerated() where blockWeights[b] > 0 {
            let inv = 1 / Double(blockWeights[b])
            for i in block.range { out[i] = Float(Double(weightedSums[i]) * inv) }
        }
        return out
    }

    /// Dequantises the unmasked sum after checking every total against what the survivors can
    /// have produced: each group's contributor count is exactly its surviving members (the block
    /// map is signed), its weight sum lies within contributors x [1, maxWeight], and each element
    /// is at most weight sum x levels. A total outside these bounds (a forged input or share that
    /// slipped through) aborts with `implausibleTotal` instead of publishing garbage.
    static func dequantise(_ sum: [UInt32], config: SecAggConfig, survivors: [UInt32]) throws -> AggregateResult {
        let layout = config.layout
        let p = layout.parameterCount
        let groups = config.groups
        let ng = groups.count
        let wide = config.quantisation.wordsPerElement == 2
        func element(_ i: Int) -> UInt64 {
            wide ? UInt64(sum[2 * i]) | UInt64(sum[2 * i + 1]) << 32 : UInt64(sum[i])
        }
        let alive = Set(survivors)
        let bounded = !config.weakened.contains(.totalBounds)
        let maxWeight = UInt64(config.quantisation.maxWeight)
        var groupWeights: [UInt64] = []
        var groupContributors: [Int] = []
        for g in 0 ..< ng {
            let name = layout.blocks[groups.blockGroup.firstIndex(of: g)!].name
            let expected = groups.members[g].filter { alive.contains($0) }.count
            let w = element(p + g)
            let c = element(p + ng + g)
            guard c == UInt64(expected) || !bounded else {
                throw SecAggError.implausibleTotal(block: name, reason: "\(c) contributors, the signed block map has \(expected) survivors")
            }
            guard w >= c && w <= c &* maxWeight || !bounded else {
                throw SecAggError.implausibleTotal(block: name, reason: "weight sum \(w) outside [\(c), \(c) x \(maxWeight)]")
            }
            groupWeights.append(w)
            groupContributors.append(expected)
        }
        let q = Quantiser(config.quantisation)
        var sums = [Float](repeating: 0, count: p)
        var weights: [UInt64] = []
        var contributors: [Int] = []
        for (b, block) in layout.blocks.enumerated() {
            let g = groups.blockGroup[b]
            let w = groupWeights[g]
            weights.append(w)
            contributors.append(groupContributors[g])
            let top = w &* UInt64(config.quantisation.levels)
            var largest: UInt64 = 0
            for i in block.range {
                let e = element(i)
                largest = max(largest, e)
                sums[i] = Float(q.dequantise(e, totalWeight: w))
            }
            guard largest <= top || !bounded else {
                throw SecAggError.implausibleTotal(block: block.name, reason: "element sum \(largest) exceeds weight sum x levels \(top)")
            }
        }
        return AggregateResult(layout: layout, weightedSums: sums, blockWeights: weights,
                               blockContributors: contributors, survivors: survivors,
                               meanErrorBound: config.quantisation.quantum)
    }
}
