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

    /// Random corruptions of a valid file either decode or throw; they never trap.
    @Test func survivesCorruption() {
        let good = Self.sample().encode()
        var s: UInt64 = 1
        func next() -> Int { s = s &* 6364136223846793005 &+ 1442695040888963407; return Int(s >> 33) }
        for _ in 0..<400 {
            var b = good
            for _ in 0..<(1 + next() % 4) { b[next() % b.count] = UInt8(truncatingIfNeeded: next()) }
            if next() % 4 == 0 { b = Array(b.prefix(next() % b.count)) }
            _ = try? SafetensorsFile.decode(b, file: "fuzz")
        }
    }
}
