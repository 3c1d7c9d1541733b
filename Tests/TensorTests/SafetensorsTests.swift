import Foundation
import Testing
@testable import Tensor

@Suite struct SafetensorsTests {
    static func sample() -> SafetensorsFile {
        var f = SafetensorsFile(metadata: ["format": "pt", "round": "3"])
        f.set("a.weight", .f32(shape: [2, 3], values: [1, -2, 3.5, 0, .infinity, -0.0]))
        f.set("a.num_batches_tracked", .i64(shape: [], values: [7]))
        f.set("b", .f32(shape: [0], values: []))
        return f
    }

    @Test func roundTrip() throws {
        let f = Self.sample()
        let bytes = f.encode()
        let headerLength = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        #expect(headerLength % 8 == 0)
        let g = try SafetensorsFile.decode(bytes, file: "x")
        #expect(g == f)
        #expect(g.names == ["a.weight", "a.num_batches_tracked", "b"])
    }

    /// Builds a file from a raw header and data section.
    static func raw(_ header: String, data: [UInt8] = [], lengthOverride: UInt64? = nil) -> [UInt8] {
        let h = Array(header.utf8)
        let n = lengthOverride ?? UInt64(h.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) } + h + data
    }

    @Test func rejectsMalformedFiles() {
        func fails(_ bytes: [UInt8], _ check: (SafetensorsError) -> Bool) {
            do { _ = try SafetensorsFile.decode(bytes, file: "bad.safetensors"); Issue.record("decoded malformed input") }
            catch { #expect(check(error), "\(error)"); #expect(error.description.contains("bad.safetensors")) }
        }
        fails([1, 2, 3]) { if case .truncated = $0 { true } else { false } }
        fails(Self.raw("{}", lengthOverride: 1 << 40)) { if case .headerLengthOutOfBounds = $0 { true } else { false } }
        fails(Self.raw("{not json")) { if case .invalidHeader = $0 { true } else { false } }
        fails(Self.raw("[1,2]")) { if case .invalidHeader = $0 { true } else { false } }
        fails(Self.raw(#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0])) {
            if case .badOffsets = $0 { true } else { false } }
        fails(Self.raw(#"{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: .init(repeating: 0, count: 8))) {
            if case .badOffsets = $0 { true } else { false } }
        fails(Self.raw(#"{"t":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#, data: .init(repeating: 0, count: 4))) {
            if case .unsupportedDType = $0 { true } else { false } }
        fails(Self.raw(#"{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: .init(repeating: 0, count: 4))) {
            if case .invalidEntry = $0 { true } else { false } }
        fails(Self.raw(#"{"t":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#, data: .init(repeating: 0, count: 4))) {
            if case .invalidEntry = $0 { true } else { false } }
        fails(Self.raw(#"{"t":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#, data: .init(repeating: 0, count: 4))) {
            if case .badOffsets = $0 { true } else { false } }
        fails(Self.raw(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                       data: .init(repeating: 0, count: 8))) { if case .badOffsets = $0 { true } else { false } }
        fails(Self.raw(#"{"__metadata__":{"k":1}}"#)) { if case .invalidHeader = $0 { true } else { false } }
    }

    /// Seeded random corruptions of a valid file, each checked against what its kind of damage must give:
    /// a cut inside the length, the header or the data throws `.truncated`, `.headerLengthOutOfBounds` or
    /// `.badOffsets`; changed data bytes alone decode to exactly those bytes (re-encoding gives the corrupted
    /// file back, NaN payloads included); any other damage throws an error naming the file, or decodes to
    /// something that round-trips.
    @Test func survivesCorruption() throws {
        let good = Self.sample().encode()
        let headerEnd = 8 + (0..<8).reduce(0) { $0 | Int(good[$1]) << (8 * $1) }
        var s: UInt64 = 1
        func next() -> Int { s = s &* 6364136223846793005 &+ 1442695040888963407; return Int(s >> 33) }
        var seen: [String: Int] = [:]
        for n in 0..<400 {
            var b = good
            for _ in 0..<(1 + next() % 4) { b[next() % b.count] = UInt8(truncatingIfNeeded: next()) }
            if next() % 4 == 0 { b = Array(b.prefix(next() % b.count)) }
            let headerIntact = b.count >= headerEnd && b[0..<headerEnd] == good[0..<headerEnd]
            let lengthIntact = b.count >= 8 && b[0..<8] == good[0..<8]
            let result = Result { () throws(SafetensorsError) in try SafetensorsFile.decode(b, file: "fuzz") }
            switch result {
            case let .success(f):
                #expect(b.count == good.count, "case \(n): a cut file of \(b.count) bytes decoded")
                if headerIntact {
                    seen["data", default: 0] += 1
                    #expect(f.names == Self.sample().names && f.encode() == b, "case \(n): data bytes not decoded as written")
                } else {
                    seen["header decoded", default: 0] += 1
                    // Compared as bytes: a changed offset can make NaNs of the data, and NaN != NaN.
                    #expect(try SafetensorsFile.decode(f.encode(), file: "again").encode() == f.encode(), "case \(n): no round trip")
                }
            case let .failure(e):
                #expect(e.description.hasPrefix("fuzz: "), "case \(n): \(e) does not name the file")
                if b.count < 8 {
                    seen["cut length", default: 0] += 1
                    #expect(e == .truncated(file: "fuzz", size: b.count))
                } else if lengthIntact && b.count < headerEnd {
                    seen["cut header", default: 0] += 1
                    #expect(e == .headerLengthOutOfBounds(file: "fuzz", headerLength: UInt64(headerEnd - 8), fileSize: b.count))
                } else if headerIntact {
                    seen["cut data", default: 0] += 1
                    guard case let .badOffsets(file, _, _) = e, file == "fuzz" else { Issue.record("case \(n): cut data gave \(e)"); continue }
                } else {
                    seen["header refused", default: 0] += 1
                }
                #expect(!(headerIntact && b.count == good.count), "case \(n): intact header and length refused: \(e)")
            }
        }
        // Every kind of damage occurred, so none of the checks above was vacuous.
        for kind in ["data", "cut length", "cut header", "header refused"] {
            #expect(seen[kind, default: 0] > 0, "no corruption of kind '\(kind)' among \(seen)")
        }
        print("safetensors corruption kinds: \(seen.sorted { $0.key < $1.key })")
        // The data section is small, so random damage seldom lands in it: every data byte flipped three ways
        // (low bit, high bit, all bits: this makes NaNs with payloads of the infinity) must decode as written...
        for at in headerEnd..<good.count {
            for mask: UInt8 in [0x01, 0x80, 0xFF] {
                var b = good
                b[at] ^= mask
                #expect(try SafetensorsFile.decode(b, file: "fuzz").encode() == b, "data byte \(at) ^ \(mask) not decoded as written")
            }
        }
        // ...and every cut there is refused.
        for cut in headerEnd..<good.count {
            #expect { try SafetensorsFile.decode(Array(good.prefix(cut)), file: "fuzz") } throws: { e in
                guard case let .badOffsets(file, _, _)? = e as? SafetensorsError else { return false }
                return file == "fuzz"
            }
        }
    }
}
