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

    func validate(against config: SecAggConfig) throws {
        let layout = config.layout
        guard values.count == layout.parameterCount else {
            throw SecAggError.invalidUpdate("\(values.count) values, the layout has \(layout.parameterCount)")
        }
        guard blockWeights.count == layout.blocks.count else {
            throw SecAggError.invalidUpdate("\(blockWeights.count) block weights, the layout has \(layout.blocks.count) blocks")
        }
        for (b, w) in blockWeights.enumerated() where w > config.quantisation.maxWeight {
            throw SecAggError.invalidUpdate("weight \(w) of block '\(layout.blocks[b].name)' exceeds quantisation.maxWeight \(config.quantisation.maxWeight)")
        }
        // NaN iff |bits| > the bits of +infinity; a branch-free OR over integer compares vectorises.
        var nanSeen: Int32 = 0
        values.withUnsafeBufferPointer { v in
            for x in v { nanSeen |= Int32(bitPattern: x.bitPattern & 0x7fff_ffff) > 0x7f80_0000 ? 1 : 0 }
        }
        if nanSeen != 0, let i = values.firstIndex(where: { $0.isNaN }) {
            throw SecAggError.invalidUpdate("value \(i) is NaN")
        }
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
    public static func derive(from secret: SecretBytes, label: String, session: [UInt8]) -> SecretBytes {
        var w = ByteWriter()
        w.bytes(Array("segviz-secagg/v1 kdf".utf8))
        let l = Array(label.utf8)
        w.u32(UInt32(l.count))
        w.bytes(l)
        w.bytes(session)
        let out = secret.withBytes { key in try! BLAKE2b.hash(w.data, outputLength: 32, key: key) }
        return SecretBytes(out)
    }

    /// The session id: the configuration digest (round, roster, parameters) and every advertised
    /// key of U1, in sender order.
    public static func sessionID(config: SecAggConfig, advertisements: [AdvertiseKeysMessage]) -> [UInt8] {
        var w = ByteWriter(capacity: 64 + advertisements.count * 68)
        w.bytes(Array("segviz-secagg/v1 session".utf8))
        w.bytes(config.digest)
        w.u32(UInt32(advertisements.count))
        for a in advertisements {
            w.u32(a.sender)
            w.bytes(a.encryptionKey.rawRepresentation)
            w.bytes(a.maskingKey.rawRepresentation)
        }
        return try! BLAKE2b.hash(w.data, outputLength: 32)
    }

    static let pairwiseMaskLabel = "pairwise-mask"
    static let selfMaskLabel = "self-mask"
    static let shareEncryptionLabel = "share-encryption"

    /// The mask key of the pair (u, v) from their X25519 masking-key agreement.
    static func pairwiseMaskKey(_ agreement: SecretBytes, session: [UInt8]) -> MaskKey {
        MaskKey(secret: derive(from: agreement, label: pairwiseMaskLabel, session: session))
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
    static func apply(_ terms: [MaskTerm], to acc: inout [UInt32], wide: Bool = false,
                      prepare: (Int, Range<Int>, UnsafeMutablePointer<UInt32>, inout MaskExpander) -> Void = { _, _, _, _ in }) {
        var expander = MaskExpander()
        let n = acc.count
        let w = MaskExpander.chunkWords
        acc.withUnsafeMutableBufferPointer { buf in
            var chunk = 0
            var start = 0
            while start < n {
                let count = min(w, n - start)
                let p = buf.baseAddress! + start
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
    }

    /// The client's masked vector: weighted quantised values, block weights and contributor flags,
    /// plus the self mask and the pairwise masks; one word per element mod 2^32, or a
    /// little-endian pair of words per element mod 2^64.
    static func maskedInput(update: ClientUpdate, config: SecAggConfig, roundingKey: MaskKey,
                            terms: [MaskTerm]) -> [UInt32] {
        let layout = config.layout
        let p = layout.parameterCount
        let wpe = config.quantisation.wordsPerElement
        var tail = update.blockWeights
        tail += update.blockWeights.map { $0 > 0 ? 1 : 0 }
        let words = config.maskedWords
        // Every word is written by `prepare` before any mask is added: no zero fill needed.
        var out = [UInt32](unsafeUninitializedCapacity: words) { _, initialised in initialised = words }
        var random = [UInt32](repeating: 0, count: MaskExpander.chunkWords)
        let q = Quantiser(config.quantisation)
        update.values.withUnsafeBufferPointer { values in
            random.withUnsafeMutableBufferPointer { rnd in
                apply(terms, to: &out, wide: wpe == 2) { chunk, wordRange, dst, expander in
                    let range = wordRange.lowerBound / wpe ..< wordRange.upperBound / wpe  // elements
                    // 16 random bits per element: at most half a chunk of the rounding stream.
                    expander.words(key: roundingKey, chunk: chunk, count: (range.count + 1) / 2, into: rnd.baseAddress!)
                    let bits = UnsafeRawPointer(rnd.baseAddress!).assumingMemoryBound(to: UInt16.self)
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
        wipe(&random)
        return out
    }

    /// Writes the quantised weighted values and the tail (block weights, contributor flags) of
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

    static func dequantise(_ sum: [UInt32], config: SecAggConfig, survivors: [UInt32]) -> AggregateResult {
        let layout = config.layout
        let p = layout.parameterCount
        let nb = layout.blocks.count
        let wide = config.quantisation.wordsPerElement == 2
        func element(_ i: Int) -> UInt64 {
            wide ? UInt64(sum[2 * i]) | UInt64(sum[2 * i + 1]) << 32 : UInt64(sum[i])
        }
        let q = Quantiser(config.quantisation)
        var sums = [Float](repeating: 0, count: p)
        var weights: [UInt64] = []
        var contributors: [Int] = []
        for (b, block) in layout.blocks.enumerated() {
            let w = element(p + b)
            weights.append(w)
            contributors.append(Int(element(p + nb + b)))
            for i in block.range { sums[i] = Float(q.dequantise(element(i), totalWeight: w)) }
        }
        return AggregateResult(layout: layout, weightedSums: sums, blockWeights: weights,
                               blockContributors: contributors, survivors: survivors,
                               meanErrorBound: config.quantisation.quantum)
    }
}
