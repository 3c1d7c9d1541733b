import CPNG
import Federation
import Foundation
import Tensor

/// An 8-bit RGB raster, row-major from the top-left pixel, three bytes per pixel.
public struct RGBImage: Sendable, Equatable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// `width * height * 3` bytes, R G B per pixel.
    public var pixels: [UInt8]

    /// An image filled with `colour`.
    public init(width: Int, height: Int, colour: RGB = .white) {
        precondition(width > 0 && height > 0, "RGBImage: size \(width)x\(height) must be positive")
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        for n in 0..<(width * height) { pixels[3 * n] = colour.r; pixels[3 * n + 1] = colour.g; pixels[3 * n + 2] = colour.b }
    }

    /// The pixel at column `x`, row `y`.
    public subscript(x: Int, y: Int) -> RGB {
        get {
            let n = 3 * (y * width + x)
            return RGB(pixels[n], pixels[n + 1], pixels[n + 2])
        }
        set {
            guard x >= 0, y >= 0, x < width, y < height else { return }
            let n = 3 * (y * width + x)
            pixels[n] = newValue.r; pixels[n + 1] = newValue.g; pixels[n + 2] = newValue.b
        }
    }
}

/// An sRGB colour.
public struct RGB: Sendable, Equatable, Hashable {
    /// Red, green, blue.
    public var r: UInt8, g: UInt8, b: UInt8
    /// A colour from its components.
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }
    /// `#rrggbb`, for HTML and SVG.
    public var hex: String { String(format: "#%02x%02x%02x", r, g, b) }
    /// This colour blended over `base` with opacity `alpha` (0...1).
    public func over(_ base: RGB, alpha: Double) -> RGB {
        func mix(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8(clamping: Int((Double(a) * alpha + Double(b) * (1 - alpha)).rounded())) }
        return RGB(mix(r, base.r), mix(g, base.g), mix(b, base.b))
    }
    /// White.
    public static let white = RGB(255, 255, 255)
    /// Black.
    public static let black = RGB(0, 0, 0)
}

/// PNG encoding with libpng's simplified write API (`png_image_write_to_memory`).
public enum PNG {
    /// The PNG file bytes of `image` (8-bit RGB, no interlacing).
    public static func encode(_ image: RGBImage) throws -> [UInt8] {
        var img = png_image()
        img.version = UInt32(PNG_IMAGE_VERSION)
        img.width = UInt32(image.width)
        img.height = UInt32(image.height)
        img.format = UInt32(PNG_FORMAT_RGB)
        let stride = Int32(image.width * 3)
        var size: png_alloc_size_t = 0
        // First call sizes the output, second writes it.
        let sized = image.pixels.withUnsafeBufferPointer { px in
            png_image_write_to_memory(&img, nil, &size, 0, px.baseAddress, stride, nil)
        }
        guard sized != 0, size > 0 else { throw ExperimentError.png(problem: message(&img)) }
        var out = [UInt8](repeating: 0, count: Int(size))
        let written = out.withUnsafeMutableBytes { buf in
            image.pixels.withUnsafeBufferPointer { px in
                png_image_write_to_memory(&img, buf.baseAddress, &size, 0, px.baseAddress, stride, nil)
            }
        }
        guard written != 0 else { throw ExperimentError.png(problem: message(&img)) }
        png_image_free(&img)
        return Array(out.prefix(Int(size)))
    }

    /// Writes `image` as a PNG file at `url`, atomically (temporary file, then rename). Returns the bytes written.
    @discardableResult
    public static func write(_ image: RGBImage, to url: URL) throws -> [UInt8] {
        let bytes = try encode(image)
        try AtomicFile.write(path: url.path, contents: Data(bytes))
        return bytes
    }

    private static func message(_ img: inout png_image) -> String {
        let text = withUnsafeBytes(of: &img.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        png_image_free(&img)
        return text.isEmpty ? "libpng failed without a message" : "libpng: \(text)"
    }
}
