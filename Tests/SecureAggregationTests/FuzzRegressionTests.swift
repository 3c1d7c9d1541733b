import Testing
@testable import SecureAggregation

/// Inputs `make fuzz` found, kept as test vectors (target secagg-server-message).
@Suite struct FuzzRegressionTests {
    /// RoundFinished whose one reason byte (0x88) is not UTF-8: it used to decode lossily (U+FFFD), so one
    /// message had two encodings. Now refused.
    @Test func roundFinishedReasonMustBeUTF8() throws {
        // Found at protocol version 1; the version byte is today's so that the body is what is tested.
        let found: [UInt8] = [WireFormat.version, 0x0a, 0x01, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x88]
        #expect { try ServerMessage.decode(found) } throws: { e in
            guard case let .malformed(message, reason) = e as? SecAggError else { return false }
            return message == "RoundFinished" && reason.contains("UTF-8")
        }
        var valid = found
        valid[15] = UInt8(ascii: "x")
        #expect(try ServerMessage.decode(valid).encode() == valid)
    }

    /// A reason longer than the wire limit is cut at a character boundary, so the server never sends bytes
    /// its own decoder refuses.
    @Test(arguments: ["é", "€", "🫀"])
    func longReasonIsCutAtACharacterBoundary(tail: String) throws {
        let reason = String(repeating: "a", count: WireFormat.maximumReasonBytes - 1) + tail
        let m = RoundFinishedMessage(round: 3, completed: false, reason: reason)
        let back = try RoundFinishedMessage.decode(m.encode())
        #expect(back.reason == String(repeating: "a", count: WireFormat.maximumReasonBytes - 1))
        #expect(back.encode() == m.encode())
    }
}
