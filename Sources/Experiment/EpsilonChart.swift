import Foundation

/// The privacy sweep's chart: final external Dice against the target epsilon on a logarithmic x axis, one line per
/// organ, the run without privacy at the right end ("none", joined by a dashed segment). Drawn twice from the same
/// geometry, as ``DiceChart`` is: inline SVG for the report (each point a circle carrying its numbers) and an
/// ``RGBImage`` for the PNG copy.
public struct EpsilonChart: Sendable {
    /// One plotted point.
    public struct Point: Sendable, Equatable {
        /// Organ (line).
        public var organ: String
        /// Target epsilon; nil: without privacy.
        public var epsilon: Double?
        /// Final mean external Dice.
        public var dice: Double
    }

    /// Every point, organ by organ, targets ascending, the run without privacy last.
    public let points: [Point]
    /// Organs (lines), in drawing order.
    public let organs: [String]
    let epsilons: [Double]
    let hasNone: Bool
    let panelW = 560, panelH = 300, marginL = 56, marginT = 26, marginB = 34, marginR = 20

    /// The chart of `sweep`'s points for `organs`.
    public init(sweep: PrivacySweepResults, organs: [String] = ["liver", "spleen"]) {
        self.organs = organs
        points = organs.flatMap { organ in
            sweep.points.compactMap { p in p.dice[organ].map { Point(organ: organ, epsilon: p.targetEpsilon, dice: $0) } }
        }
        epsilons = sweep.points.compactMap(\.targetEpsilon).sorted()
        hasNone = sweep.points.contains { $0.targetEpsilon == nil }
    }

    /// Line colours by organ position.
    static let colours = [RGB(31, 119, 180), RGB(214, 39, 40), RGB(44, 160, 44)]
    func colour(_ organ: String) -> RGB { Self.colours[(organs.firstIndex(of: organ) ?? 0) % Self.colours.count] }

    /// Image width in pixels.
    public var width: Int { marginL + panelW + marginR }
    /// Image height in pixels.
    public var height: Int { marginT + panelH + marginB + 14 * organs.count + 10 }

    /// x positions: log10(epsilon) across the panel, "none" one mean decade-step beyond the largest target.
    var logs: [Double] { epsilons.map { Foundation.log10($0) } }
    var step: Double { logs.count > 1 ? (logs.last! - logs.first!) / Double(logs.count - 1) : 1 }
    var noneLog: Double { (logs.last ?? 0) + step }
    func x(_ epsilon: Double?) -> Int {
        let lo = (logs.first ?? 0) - step / 3, hi = (hasNone ? noneLog : (logs.last ?? 0)) + step / 3
        let v = epsilon.map { Foundation.log10($0) } ?? noneLog
        return marginL + Int((Double(panelW) * (v - lo) / max(hi - lo, 1e-9)).rounded())
    }
    /// y position of a Dice value (the axis runs from 0 to 1).
    func y(_ v: Double) -> Int { marginT + Int((Double(panelH) * (1 - v)).rounded()) }
    var ticks: [Double] { (0...10).map { Double($0) / 10 } }
    var xTicks: [(label: String, x: Int)] {
        var t: [(label: String, x: Int)] = epsilons.map { (label: PrivacyPoint.format($0), x: x($0)) }
        if hasNone { t.append((label: "none", x: x(nil))) }
        return t
    }
    func line(_ organ: String) -> [Point] { points.filter { $0.organ == organ } }

    /// The chart as an SVG element.
    public func svg() -> String {
        let xl = marginL - 8, xr = marginL + panelW
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"11\">"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
        s += "<text x=\"\(xl)\" y=\"16\" font-weight=\"bold\">Final Dice against target epsilon (external set)</text>"
        s += ChartParts.svgGrid(ticks: ticks, xl: xl, xr: xr, y: y)
        for t in xTicks {
            s += "<line x1=\"\(t.x)\" y1=\"\(y(1))\" x2=\"\(t.x)\" y2=\"\(y(0))\" stroke=\"#eee\"/>"
            s += "<text x=\"\(t.x)\" y=\"\(y(0) + 16)\" text-anchor=\"middle\">\(t.label)</text>"
        }
        s += "<text x=\"\((xl + xr) / 2)\" y=\"\(y(0) + 30)\" text-anchor=\"middle\">target epsilon (log scale, none: no privacy)</text>"
        for organ in organs {
            let c = colour(organ).hex, pts = line(organ)
            let dp = pts.filter { $0.epsilon != nil }.map { "\(x($0.epsilon)),\(y($0.dice))" }.joined(separator: " ")
            s += "<polyline points=\"\(dp)\" fill=\"none\" stroke=\"\(c)\" stroke-width=\"2\"/>"
            if let last = pts.last(where: { $0.epsilon != nil }), let none = pts.first(where: { $0.epsilon == nil }) {
                s += "<line x1=\"\(x(last.epsilon))\" y1=\"\(y(last.dice))\" x2=\"\(x(nil))\" y2=\"\(y(none.dice))\" stroke=\"\(c)\" stroke-width=\"1.5\" stroke-dasharray=\"5,3\"/>"
            }
            for p in pts {
                let e = p.epsilon.map(PrivacyPoint.format) ?? "none"
                s += "<circle cx=\"\(x(p.epsilon))\" cy=\"\(y(p.dice))\" r=\"3.5\" fill=\"\(c)\" data-organ=\"\(escapeHTML(organ))\" "
                s += "data-epsilon=\"\(e)\" data-dice=\"\(String(format: "%.6f", p.dice))\"><title>\(escapeHTML(organ)), epsilon \(e): Dice "
                s += "\(String(format: "%.3f", p.dice))</title></circle>"
            }
        }
        for (n, organ) in organs.enumerated() {
            let ly = y(0) + marginB + 14 * n + 4
            s += ChartParts.svgLegend("\(organ) Dice", colour: colour(organ), x: marginL, y: ly)
        }
        return s + "</svg>"
    }

    /// The chart rasterised (for the PNG copy); labels in the 5x7 bitmap font.
    public func raster() -> RGBImage {
        var img = RGBImage(width: width, height: height)
        let ink = ChartParts.ink
        let xl = marginL - 8, xr = marginL + panelW
        img.text("Final Dice against target epsilon (external set)", x: xl, y: 8, colour: ink)
        img.chartGrid(ticks: ticks, xl: xl, xr: xr, y: y)
        for t in xTicks {
            img.line(t.x, y(1), t.x, y(0), colour: RGB(238, 238, 238))
            img.text(t.label, x: t.x - BitmapFont.width(t.label) / 2, y: y(0) + 8, colour: ink)
        }
        let axis = "target epsilon (log scale, none: no privacy)"
        img.text(axis, x: (xl + xr - BitmapFont.width(axis)) / 2, y: y(0) + 20, colour: ink)
        for organ in organs {
            let c = colour(organ), pts = line(organ), dp = pts.filter { $0.epsilon != nil }
            for (a, b) in zip(dp, dp.dropFirst()) { img.line(x(a.epsilon), y(a.dice), x(b.epsilon), y(b.dice), colour: c, thickness: 2) }
            if let last = dp.last, let none = pts.first(where: { $0.epsilon == nil }) {
                img.dashed(x(last.epsilon), y(last.dice), x(nil), y(none.dice), colour: c)
            }
            for p in pts { img.fill(x: x(p.epsilon) - 3, y: y(p.dice) - 3, w: 7, h: 7, colour: c) }
        }
        for (n, organ) in organs.enumerated() {
            let ly = y(0) + marginB + 14 * n + 4
            img.chartLegend("\(organ) Dice", colour: colour(organ), x: marginL, y: ly)
        }
        return img
    }
}

extension RGBImage {
    /// A one-pixel line from (`x0`, `y0`) to (`x1`, `y1`) in dashes of about 5 pixels with 3-pixel gaps.
    mutating func dashed(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, colour: RGB) {
        let length = max(1, Int(Double((x1 - x0) * (x1 - x0) + (y1 - y0) * (y1 - y0)).squareRoot()))
        var at = 0
        while at < length {
            let end = min(length, at + 5)
            func point(_ t: Int) -> (Int, Int) { (x0 + (x1 - x0) * t / length, y0 + (y1 - y0) * t / length) }
            let (a, b) = point(at), (c, d) = point(end)
            line(a, b, c, d, colour: colour)
            at += 8
        }
    }
}
