import Hummingbird

/// Strict parsing of the aggregator's path parameters, done before any other work on a request: ASCII digits
/// only (no sign, exponent, space or leading `+`), bounded length and range, so that nothing downstream sees
/// a value whose arithmetic could trap. A violation answers 400 naming the parameter.
enum PathParameters {
    /// Largest round or message index accepted (far below Int.max: `value + 1` can never overflow).
    static let maximumCount = 1_000_000_000

    /// A non-negative count (round number, message index) from the path parameter `name`.
    static func count(_ context: some RequestContext, _ name: String) throws -> Int {
        let text = context.parameters.get(name) ?? ""
        guard let v = DecimalDigits.parse(text, maxDigits: 10).map(Int.init) else {
            throw HTTPError(.badRequest, message: "path parameter '\(name)' must be 1 to 10 decimal digits")
        }
        guard v <= maximumCount else {
            throw HTTPError(.badRequest, message: "path parameter '\(name)' must be at most \(maximumCount), got \(text)")
        }
        return v
    }

    /// A session id: 1 to 64 lowercase hex digits.
    static func session(_ context: some RequestContext) throws -> String {
        let text = context.parameters.get("session") ?? ""
        let u = text.utf8
        guard (1...64).contains(u.count), u.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            throw HTTPError(.badRequest, message: "path parameter 'session' must be 1 to 64 lowercase hex digits")
        }
        return text
    }
}
