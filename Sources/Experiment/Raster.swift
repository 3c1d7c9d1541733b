/// Drawing primitives on an ``RGBImage``: filled rectangles, thick lines, and text in a 5x7 bitmap font.
extension RGBImage {
    /// Fills the rectangle with top-left (`x`, `y`) and size `w` x `h` (clipped to the image).
    public mutating func fill(x: Int, y: Int, w: Int, h: Int, colour: RGB) {
        let x0 = max(0, x), x1 = min(width, x + w), y0 = max(0, y), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        for yy in y0..<y1 { for xx in x0..<x1 { self[xx, yy] = colour } }
    }

    /// A line from (`x0`, `y0`) to (`x1`, `y1`) `thickness` pixels wide (Bresenham with a square brush).
    public mutating func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, colour: RGB, thickness: Int = 1) {
        let dx = abs(x1 - x0), dy = -abs(y1 - y0)
        let sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var err = dx + dy, x = x0, y = y0
        let lo = -(thickness - 1) / 2, hi = thickness / 2
        while true {
            for oy in lo...hi { for ox in lo...hi { self[x + ox, y + oy] = colour } }
            if x == x1 && y == y1 { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
        }
    }

    /// Draws `text` with its top-left corner at (`x`, `y`); each font pixel is `scale` x `scale`.
    /// Lower-case letters are drawn as capitals; characters outside the font as blanks.
    public mutating func text(_ text: String, x: Int, y: Int, colour: RGB, scale: Int = 1) {
        var cx = x
        for ch in text.uppercased() {
            let columns = BitmapFont.glyphs[ch] ?? BitmapFont.glyphs[" "]!
            for (c, bits) in columns.enumerated() {
                for r in 0..<7 where bits & (1 << r) != 0 {
                    fill(x: cx + c * scale, y: y + r * scale, w: scale, h: scale, colour: colour)
                }
            }
            cx += BitmapFont.advance * scale
        }
    }
}

/// The classic 5x7 LCD font: five column bytes per glyph, bit 0 the top row.
public enum BitmapFont {
    /// Horizontal advance per character in font pixels (5 columns + 1 gap).
    public static let advance = 6
    /// Height of a line in font pixels.
    public static let lineHeight = 8

    /// Width in pixels of `text` at `scale`.
    public static func width(_ text: String, scale: Int = 1) -> Int { text.count * advance * scale }

    static let glyphs: [Character: [UInt8]] = [
        " ": [0, 0, 0, 0, 0], ".": [0x00, 0x60, 0x60, 0x00, 0x00], "-": [0x08, 0x08, 0x08, 0x08, 0x08],
        ":": [0x00, 0x36, 0x36, 0x00, 0x00], "(": [0x00, 0x1C, 0x22, 0x41, 0x00], ")": [0x00, 0x41, 0x22, 0x1C, 0x00],
        "/": [0x20, 0x10, 0x08, 0x04, 0x02], "+": [0x08, 0x08, 0x3E, 0x08, 0x08], "=": [0x14, 0x14, 0x14, 0x14, 0x14],
        "_": [0x40, 0x40, 0x40, 0x40, 0x40], ",": [0x00, 0x50, 0x30, 0x00, 0x00], "%": [0x23, 0x13, 0x08, 0x64, 0x62],
        "0": [0x3E, 0x51, 0x49, 0x45, 0x3E], "1": [0x00, 0x42, 0x7F, 0x40, 0x00], "2": [0x42, 0x61, 0x51, 0x49, 0x46],
        "3": [0x21, 0x41, 0x45, 0x4B, 0x31], "4": [0x18, 0x14, 0x12, 0x7F, 0x10], "5": [0x27, 0x45, 0x45, 0x45, 0x39],
        "6": [0x3C, 0x4A, 0x49, 0x49, 0x30], "7": [0x01, 0x71, 0x09, 0x05, 0x03], "8": [0x36, 0x49, 0x49, 0x49, 0x36],
        "9": [0x06, 0x49, 0x49, 0x29, 0x1E],
        "A": [0x7E, 0x11, 0x11, 0x11, 0x7E], "B": [0x7F, 0x49, 0x49, 0x49, 0x36], "C": [0x3E, 0x41, 0x41, 0x41, 0x22],
        "D": [0x7F, 0x41, 0x41, 0x22, 0x1C], "E": [0x7F, 0x49, 0x49, 0x49, 0x41], "F": [0x7F, 0x09, 0x09, 0x09, 0x01],
        "G": [0x3E, 0x41, 0x49, 0x49, 0x7A], "H": [0x7F, 0x08, 0x08, 0x08, 0x7F], "I": [0x00, 0x41, 0x7F, 0x41, 0x00],
        "J": [0x20, 0x40, 0x41, 0x3F, 0x01], "K": [0x7F, 0x08, 0x14, 0x22, 0x41], "L": [0x7F, 0x40, 0x40, 0x40, 0x40],
        "M": [0x7F, 0x02, 0x0C, 0x02, 0x7F], "N": [0x7F, 0x04, 0x08, 0x10, 0x7F], "O": [0x3E, 0x41, 0x41, 0x41, 0x3E],
        "P": [0x7F, 0x09, 0x09, 0x09, 0x06], "Q": [0x3E, 0x41, 0x51, 0x21, 0x5E], "R": [0x7F, 0x09, 0x19, 0x29, 0x46],
        "S": [0x46, 0x49, 0x49, 0x49, 0x31], "T": [0x01, 0x01, 0x7F, 0x01, 0x01], "U": [0x3F, 0x40, 0x40, 0x40, 0x3F],
        "V": [0x1F, 0x20, 0x40, 0x20, 0x1F], "W": [0x3F, 0x40, 0x38, 0x40, 0x3F], "X": [0x63, 0x14, 0x08, 0x14, 0x63],
        "Y": [0x07, 0x08, 0x70, 0x08, 0x07], "Z": [0x61, 0x51, 0x49, 0x45, 0x43],
    ]
}

/// What both charts (``DiceChart``, ``EpsilonChart``) draw alike: the Dice grid with its labels and the legend
/// entries, as SVG text and on an ``RGBImage``.
enum ChartParts {
    /// Grid lines and text.
    static let grid = RGB(221, 221, 221), ink = RGB(40, 40, 40)

    /// SVG: a horizontal grid line from `xl` to `xr` at each tick, labelled left of `xl` with one decimal.
    static func svgGrid(ticks: [Double], xl: Int, xr: Int, y: (Double) -> Int) -> String {
        ticks.map { t in
            "<line x1=\"\(xl)\" y1=\"\(y(t))\" x2=\"\(xr)\" y2=\"\(y(t))\" stroke=\"#ddd\"/>"
                + "<text x=\"\(xl - 4)\" y=\"\(y(t) + 4)\" text-anchor=\"end\">\(String(format: "%.1f", t))</text>"
        }.joined()
    }

    /// SVG: a legend swatch at (`x`, `y`) and its label.
    static func svgLegend(_ name: String, colour: RGB, x: Int, y: Int) -> String {
        "<rect x=\"\(x)\" y=\"\(y)\" width=\"14\" height=\"4\" fill=\"\(colour.hex)\"/><text x=\"\(x + 20)\" y=\"\(y + 6)\">\(escapeHTML(name))</text>"
    }
}

extension RGBImage {
    /// ``ChartParts/svgGrid(ticks:xl:xr:y:)`` drawn in pixels (labels in the bitmap font).
    mutating func chartGrid(ticks: [Double], xl: Int, xr: Int, y: (Double) -> Int) {
        for t in ticks {
            line(xl, y(t), xr, y(t), colour: ChartParts.grid)
            let label = String(format: "%.1f", t)
            text(label, x: xl - 4 - BitmapFont.width(label), y: y(t) - 3, colour: ChartParts.ink)
        }
    }

    /// ``ChartParts/svgLegend(_:colour:x:y:)`` drawn in pixels.
    mutating func chartLegend(_ name: String, colour: RGB, x: Int, y: Int) {
        fill(x: x, y: y, w: 14, h: 4, colour: colour)
        text(name, x: x + 20, y: y - 1, colour: ChartParts.ink)
    }
}
