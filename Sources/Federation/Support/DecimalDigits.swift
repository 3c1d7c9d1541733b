/// Strict decimal parsing for untrusted text (headers, path parameters, trusted comments): ASCII digits only,
/// no sign, exponent, space, `+` or non-ASCII digit, at most `maxDigits` of them so the value fits in Int64 with
/// room to spare and no arithmetic on it can trap. The one such parser of the module.
public enum DecimalDigits {
    /// The value of `text` if it is 1 to `maxDigits` (at most 18) ASCII digits, else nil.
    public static func parse<S: StringProtocol>(_ text: S, maxDigits: Int) -> Int64? {
        let u = text.utf8
        guard maxDigits <= 18, (1...maxDigits).contains(u.count), u.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return u.reduce(Int64(0)) { $0 * 10 + Int64($1 - 0x30) }
    }
}
