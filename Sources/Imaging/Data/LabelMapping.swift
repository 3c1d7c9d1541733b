/// The organs of the federation's label set: 0 background, 1 liver, 2 spleen.
public enum Organ: Int, Sendable, CaseIterable, Codable, Comparable, CustomStringConvertible {
    /// Federation label 1.
    case liver = 1
    /// Federation label 2.
    case spleen = 2

    /// Number of federation classes including background (3).
    public static let classCount = 3

    /// The organ named `name` ("liver" or "spleen", any case).
    public init?(name: String) {
        switch name.lowercased() { case "liver": self = .liver; case "spleen": self = .spleen; default: return nil }
    }

    /// "liver" or "spleen".
    public var description: String { self == .liver ? "liver" : "spleen" }

    public static func < (a: Organ, b: Organ) -> Bool { a.rawValue < b.rawValue }
}

/// Why a `--labels` text could not be parsed; names the offending item.
public struct LabelMappingError: Error, Equatable, CustomStringConvertible {
    /// The whole text given.
    public var text: String
    /// The item at fault.
    public var item: String
    /// What is wrong with it.
    public var reason: String
    public var description: String { "--labels \"\(text)\": item \"\(item)\": \(reason)" }
}

/// How a site's label numbers map to the federation's label set: the one `--labels` syntax shared
/// by `train`, `evaluate` and `node`.
///
/// Syntax: comma-separated `VALUE:TARGET` items. `VALUE` is a label number (1 or more) or `*` for
/// every value not listed; `TARGET` is `liver`, `spleen` or `background`. Label 0 is always
/// background. A value the mapping does not know (no item and no `*`) is a data-set error.
/// Examples: MSD Task03 Liver `1:liver,2:liver` (tumour merged into liver); MSD Task09 Spleen
/// `1:spleen`; BTCV `1:spleen,6:liver,*:background` (its other 11 organs count as background).
/// The presets `msd-liver`, `msd-spleen` and `btcv` stand for exactly those.
public struct LabelMapping: Sendable, Equatable, CustomStringConvertible {
    /// Label number -> federation label (0 background, else an ``Organ`` raw value).
    public private(set) var table: [Int: Int]
    /// Federation label for values not in `table`; `nil` makes them errors.
    public private(set) var others: Int?

    /// The named presets and what they stand for.
    public static let presets: [String: String] = [
        "msd-liver": "1:liver,2:liver", "msd-spleen": "1:spleen", "btcv": "1:spleen,6:liver,*:background",
    ]

    /// Parses the `--labels` syntax (or a preset name).
    public init(parsing text: String) throws(LabelMappingError) {
        let spec = Self.presets[text.lowercased()] ?? text
        table = [0: 0]
        others = nil
        let items = spec.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        for item in items {
            let parts = item.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 else { throw LabelMappingError(text: text, item: item, reason: "expected VALUE:TARGET, e.g. 1:liver") }
            let target: Int
            if parts[1].lowercased() == "background" { target = 0 } else if let o = Organ(name: parts[1]) { target = o.rawValue } else {
                throw LabelMappingError(text: text, item: item, reason: "target must be liver, spleen or background")
            }
            if parts[0] == "*" {
                guard others == nil else { throw LabelMappingError(text: text, item: item, reason: "* given twice") }
                others = target
                continue
            }
            guard let v = Int(parts[0]), v >= 0, v <= 65535 else {
                throw LabelMappingError(text: text, item: item, reason: "value must be a label number 0...65535 or *")
            }
            guard v != 0 || target == 0 else { throw LabelMappingError(text: text, item: item, reason: "label 0 is always background") }
            guard v == 0 || table[v] == nil else { throw LabelMappingError(text: text, item: item, reason: "label \(v) given twice") }
            table[v] = target
        }
        guard !annotatedOrgans.isEmpty else {
            throw LabelMappingError(text: text, item: spec, reason: "maps no label to liver or spleen")
        }
    }

    /// The organs this site's labels annotate (the targets other than background).
    public var annotatedOrgans: Set<Organ> {
        Set((Array(table.values) + [others ?? 0]).compactMap { Organ(rawValue: $0) })
    }

    /// Federation label for a label number, `nil` when the mapping does not know it.
    public func map(_ value: Int) -> Int? { table[value] ?? others }

    /// Label values in `values` the mapping does not know, ascending.
    public func unknownValues(in values: Set<Int>) -> [Int] { values.filter { map($0) == nil }.sorted() }

    /// The label volume in federation numbering; throws the unknown values found (ascending).
    public func apply(to labels: Volume) throws(UnknownLabels) -> Volume {
        var lut = [Float: Float]()
        var out = [Float](repeating: 0, count: labels.voxels.count)
        var unknown = Set<Int>()
        for (n, v) in labels.voxels.enumerated() {
            if let t = lut[v] { out[n] = t; continue }
            let key = Int(v.rounded())
            if Float(key) == v, let t = map(key) { lut[v] = Float(t); out[n] = Float(t) } else { unknown.insert(key) }
        }
        guard unknown.isEmpty else { throw UnknownLabels(values: unknown.sorted()) }
        return Volume(grid: labels.grid, voxels: out)
    }

    /// Label values a mapping does not know; a non-integer value appears rounded to the nearest integer.
    public struct UnknownLabels: Error, Equatable { public var values: [Int] }

    /// The canonical text of this mapping (parses back to an equal mapping).
    public var description: String {
        let names = [0: "background", 1: "liver", 2: "spleen"]
        var items = table.filter { $0.key != 0 }.sorted { $0.key < $1.key }.map { "\($0.key):\(names[$0.value]!)" }
        if let o = others { items.append("*:\(names[o]!)") }
        return items.joined(separator: ",")
    }
}

import Foundation
