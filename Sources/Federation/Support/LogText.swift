/// Plain renderings for log lines: names as a comma list, dropouts as "node at Phase", never Swift's
/// `[...]` / `[:]` dumps.
enum LogText {
    /// "a, b, c", or "none".
    static func list(_ names: [String]) -> String { names.isEmpty ? "none" : names.joined(separator: ", ") }

    /// "spleen-d at MaskedInput, liver-c at ShareKeys", or "none".
    static func dropouts(_ d: [String: String]) -> String {
        list(d.sorted { $0.key < $1.key }.map { "\($0.key) at \($0.value)" })
    }
}
