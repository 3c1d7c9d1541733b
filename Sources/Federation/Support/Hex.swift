// Hex encoding of hashes, nonces and session ids: the one hex codec of SegViz outside SecureAggregation.

/// Lower-case hex text of bytes, and back.
public enum Hex {
    /// Lower-case hex of bytes.
    public static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Bytes of a hex string (either case); throws ``FederationError/invalidHex(field:problem:)`` on an odd
    /// length or a non-hex digit, naming `field` (what the text is: `session`, `modelHash`...).
    public static func decode(_ s: String, field: String) throws(FederationError) -> [UInt8] {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { throw .invalidHex(field: field, problem: .oddLength(u.count)) }
        func v(_ at: Int) throws(FederationError) -> UInt8 {
            let c = u[at]
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: throw .invalidHex(field: field, problem: .notADigit(offset: at))
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(u.count / 2)
        for i in stride(from: 0, to: u.count, by: 2) { out.append(try v(i) << 4 | v(i + 1)) }
        return out
    }
}

/// Shorthand for ``Hex/encode(_:)`` inside Federation.
func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

/// Shorthand for ``Hex/decode(_:field:)`` inside Federation; `field` names what the text is.
func unhex(_ s: String, field: String) throws(FederationError) -> [UInt8] { try Hex.decode(s, field: field) }
