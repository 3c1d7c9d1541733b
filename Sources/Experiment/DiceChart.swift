import Foundation

/// The Dice-per-round line chart: one panel per organ, one line per run, drawn twice from the same geometry —
/// as inline SVG for the report and rasterised into an ``RGBImage`` for the PNG copy.
public struct DiceChart: Sendable {
    /// One line.
    public struct Series: Sendable {
        /// Legend name.
        public var name: String
        /// Organ panel it belongs to.
        public var organ: String
        /// Dice after rounds 1, 2, ...
        public var values: [Double]
        /// Line colour.
        public var colour: RGB
        /// Drawn thin and dashed (the single-site baselines).
        public var dashed: Bool
    }

    /// Organ panels, left to right.
    public let organs: [String]
    /// Every line.
    public let series: [Series]
    let panelW = 430, panelH = 300, marginL = 46, marginT = 26, marginB = 30, gap = 30
    let yMin: Double

    /// A chart of `series` over `organs`; the y axis starts at the lowest value rounded down to 0.1.
    public init(organs: [String], series: [Series]) {
        self.organs = organs
        self.series = series
        let low = series.flatMap(\.values).min() ?? 0
        yMin = max(0, (low * 10).rounded(.down) / 10)
    }

    /// The palette runs are drawn in (by position in the table).
    public static let palette: [RGB] = [RGB(120, 120, 120), RGB(150, 150, 150), RGB(90, 90, 90), RGB(31, 119, 180),
                                        RGB(214, 39, 40), RGB(44, 160, 44), RGB(148, 103, 189), RGB(255, 127, 14),
                                        RGB(23, 190, 207), RGB(140, 86, 75)]

    var rounds: Int { series.map(\.values.count).max() ?? 1 }
    /// One legend entry per run name, in order of first appearance.
    var legend: [Series] {
        var seen = Set<String>()
        return series.filter { seen.insert($0.name).inserted }
    }
    var legendRows: Int { (legend.count + 1) / 2 }
    /// Image width in pixels.
    public var width: Int { organs.count * (panelW + gap) + gap }
    /// Image height in pixels.
    public var height: Int { marginT + panelH + marginB + 14 * legendRows + 10 }

    func x(_ panel: Int, _ round: Int) -> Int {
        let x0 = gap + panel * (panelW + gap) + marginL, w = panelW - marginL - 10
        return x0 + (rounds <= 1 ? w / 2 : (round - 1) * w / (rounds - 1))
    }
    func y(_ v: Double) -> Int { marginT + Int(Double(panelH) * (1 - (v - yMin) / max(1 - yMin, 1e-9))) }
    var ticks: [Double] { stride(from: yMin, through: 1.0001, by: 0.1).map { ($0 * 10).rounded() / 10 } }
    var xTicks: [Int] { Array(stride(from: 1, through: rounds, by: max(1, rounds / 10))) }

    /// The chart as an SVG element (text stays text, lines stay vectors).
    public func svg() -> String {
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"11\">"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
        for (p, organ) in organs.enumerated() {
            let xl = x(p, 1) - 8, xr = x(p, rounds) + 8
            s += "<text x=\"\(xl)\" y=\"16\" font-weight=\"bold\">\(organ) Dice per round (external set)</text>"
            s += ChartParts.svgGrid(ticks: ticks, xl: xl, xr: xr, y: y)
            for r in xTicks { s += "<text x=\"\(x(p, r))\" y=\"\(y(yMin) + 16)\" text-anchor=\"middle\">\(r)</text>" }
            s += "<text x=\"\((xl + xr) / 2)\" y=\"\(y(yMin) + 28)\" text-anchor=\"middle\">round</text>"
            for line in series where line.organ == organ {
                let pts = line.values.enumerated().map { "\(x(p, $0.offset + 1)),\(y($0.element))" }.joined(separator: " ")
                let dash = line.dashed ? " stroke-dasharray=\"5,3\"" : ""
                s += "<polyline points=\"\(pts)\" fill=\"none\" stroke=\"\(line.colour.hex)\" stroke-width=\"\(line.dashed ? 1.5 : 2)\"\(dash)><title>\(escapeHTML(line.name))</title></polyline>"
            }
        }
        for (n, line) in legend.enumerated() {
            let lx = gap + (n % 2) * (width / 2), ly = marginT + panelH + marginB + 14 * (n / 2) + 4
            s += ChartParts.svgLegend(line.name, colour: line.colour, x: lx, y: ly)
        }
        return s + "</svg>"
    }

    /// The chart rasterised (for the PNG copy); labels in the 5x7 bitmap font.
    public func raster() -> RGBImage {
        var img = RGBImage(width: width, height: height)
        let ink = ChartParts.ink
        for (p, organ) in organs.enumerated() {
            let xl = x(p, 1) - 8, xr = x(p, rounds) + 8
            img.text("\(organ) Dice per round (external set)", x: xl, y: 8, colour: ink)
            img.chartGrid(ticks: ticks, xl: xl, xr: xr, y: y)
            for r in xTicks { img.text("\(r)", x: x(p, r) - BitmapFont.width("\(r)") / 2, y: y(yMin) + 8, colour: ink) }
            img.text("round", x: (xl + xr) / 2 - 15, y: y(yMin) + 20, colour: ink)
            for line in series where line.organ == organ {
                for (i, v) in line.values.enumerated() {
                    if i > 0 {
                        img.line(x(p, i), y(line.values[i - 1]), x(p, i + 1), y(v), colour: line.colour, thickness: line.dashed ? 1 : 2)
                    }
                    img.fill(x: x(p, i + 1) - 2, y: y(v) - 2, w: 5, h: 5, colour: line.colour)
                }
            }
        }
        for (n, line) in legend.enumerated() {
            let lx = gap + (n % 2) * (width / 2), ly = marginT + panelH + marginB + 14 * (n / 2) + 4
            img.chartLegend(line.name, colour: line.colour, x: lx, y: ly)
        }
        return img
    }
}

/// `text` with HTML's special characters escaped.
func escapeHTML(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
