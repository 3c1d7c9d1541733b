/// Little-endian binary writer for messages, signed transcripts and hash inputs.
public struct ByteWriter {
    var data: [UInt8] = []
    init(capacity: Int = 0) { data.reserveCapacity(capacity) }
    mutating func u8(_ v: UInt8) { data.append(v) }
    mutating func u32(_ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) }
    }
    mutating func u64(_ v: UInt64) {
        withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) }
    }
    mutating func bytes(_ b: [UInt8]) { data.append(contentsOf: b) }
    mutating func words(_ w: [UInt32]) {
        #if _endian(little)
        w.withUnsafeBytes { data.append(contentsOf: $0) }
        #else
        for x in w { u32(x) }
        #endif
    }
}

/// Bounds-checked reader: every read names the message in its `truncated` error.
public struct ByteReader {
    let data: [UInt8]
    let message: String
    private(set) var position = 0

    init(_ data: [UInt8], message: String) {
        self.data = data
        self.message = message
    }

    var remaining: Int { data.count - position }

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, remaining >= n else {
            throw SecAggError.truncated(message: message, needed: position + n, available: data.count)
        }
        defer { position += n }
        return data[position ..< position + n]
    }

    mutating func u8() throws -> UInt8 { try take(1).first! }

    mutating func u32() throws -> UInt32 {
        let s = try take(4)
        var v: UInt32 = 0
        for (i, b) in s.enumerated() { v |= UInt32(b) << (8 * UInt32(i)) }
        return v
    }

    mutating func u64() throws -> UInt64 {
        let s = try take(8)
        var v: UInt64 = 0
        for (i, b) in s.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }

    mutating func bytes(_ n: Int) throws -> [UInt8] { Array(try take(n)) }

    /// A count that announces `itemSize`-byte items: refused before allocating if it exceeds
    /// `limit` or the bytes that remain.
    mutating func count(itemSize: Int, limit: Int, what: String) throws -> Int {
        let n = Int(try u32())
        guard n <= limit else {
            throw SecAggError.oversized(message: message, reason: "\(n) \(what), limit \(limit)")
        }
        guard n * itemSize <= remaining else {
            throw SecAggError.truncated(message: message, needed: position + n * itemSize, available: data.count)
        }
        return n
    }

    mutating func words(_ n: Int) throws -> [UInt32] {
        let s = try take(n * 4)
        var out = [UInt32](repeating: 0, count: n)
        #if _endian(little)
        out.withUnsafeMutableBytes { dst in s.withUnsafeBytes { dst.copyMemory(from: $0) } }
        #else
        for i in 0 ..< n { out[i] = UInt32(s[s.startIndex + 4 * i]) | UInt32(s[s.startIndex + 4 * i + 1]) << 8
            | UInt32(s[s.startIndex + 4 * i + 2]) << 16 | UInt32(s[s.startIndex + 4 * i + 3]) << 24 }
        #endif
        return out
    }

    /// Ids in strictly increasing order (so no duplicates).
    mutating func sortedIDs(_ n: Int, what: String) throws -> [UInt32] {
        var ids: [UInt32] = []
        ids.reserveCapacity(n)
        for _ in 0 ..< n {
            let id = try u32()
            if let last = ids.last, id <= last {
                throw SecAggError.malformed(message: message, reason: "\(what) not strictly increasing at \(id)")
            }
            ids.append(id)
        }
        return ids
    }

    func finish() throws {
        guard remaining == 0 else {
            throw SecAggError.oversized(message: message, reason: "\(remaining) trailing bytes")
        }
    }
}

/// Lower-case hex of bytes (for error messages naming digests; never used on secrets).
func hexDigits(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0xf)])
    }
    return String(decoding: out, as: UTF8.self)
}
