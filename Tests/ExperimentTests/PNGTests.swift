import Foundation
import SegVizTesting
import Testing
@testable import Experiment

/// Decodes an 8-bit RGB PNG with Python's standard library only (zlib + the five PNG filters), checking every
/// chunk's CRC; prints "W H" and then the hex of the raw pixels.
let pythonPNGReader = """
import sys, struct, zlib
b = open(sys.argv[1], 'rb').read()
assert b[:8] == b'\\x89PNG\\r\\n\\x1a\\n', 'bad signature'
pos, idat, w, h = 8, b'', 0, 0
while pos < len(b):
    n, = struct.unpack('>I', b[pos:pos+4]); t = b[pos+4:pos+8]; d = b[pos+8:pos+8+n]
    crc, = struct.unpack('>I', b[pos+8+n:pos+12+n])
    assert zlib.crc32(t + d) & 0xffffffff == crc, 'bad CRC in ' + t.decode()
    if t == b'IHDR':
        w, h, depth, colour = struct.unpack('>IIBB', d[:10]); assert (depth, colour) == (8, 2), 'not 8-bit RGB'
    if t == b'IDAT': idat += d
    pos += 12 + n
raw, stride, out, prev = zlib.decompress(idat), w * 3, bytearray(), bytearray(w * 3)
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - 3] if i >= 3 else 0; up = prev[i]; c = prev[i - 3] if i >= 3 else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + up) & 255
        elif f == 3: line[i] = (line[i] + (a + up) // 2) & 255
        elif f == 4:
            p = a + up - c; pa, pb, pc = abs(p - a), abs(p - up), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else up if pb <= pc else c)) & 255
    out += line; prev = line
print(w, h); print(out.hex())
"""

/// Runs `python3 -c script args...` (SegVizTesting), returning stdout.
func runPython(_ script: String, _ args: [String]) throws -> String { try Subprocess.python(script, args) }

/// A fresh temporary folder named for the test (SegVizTesting).
func temporaryFolder(_ tag: String = #function) -> URL { try! TemporaryDirectory.make(prefix: "exp", tag: tag) }

@Suite(.timeLimit(.minutes(5))) struct PNGTests {
    @Test func writtenPNGReadsBackPixelForPixel() throws {
        var img = RGBImage(width: 37, height: 23, colour: RGB(10, 20, 30))
        for y in 0..<23 { for x in 0..<37 { img[x, y] = RGB(UInt8(x * 7 % 256), UInt8(y * 11 % 256), UInt8((x * y) % 256)) } }
        img.line(0, 0, 36, 22, colour: RGB(255, 0, 0), thickness: 2)
        img.text("DICE 0.9", x: 1, y: 1, colour: .white)
        let url = temporaryFolder().appendingPathComponent("t.png")
        let bytes = try PNG.write(img, to: url)
        #expect(Array(bytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(try Data(contentsOf: url) == Data(bytes))
        let lines = try runPython(pythonPNGReader, [url.path]).split(separator: "\n")
        #expect(lines[0] == "37 23")
        let hex = img.pixels.map { String(format: "%02x", $0) }.joined()
        #expect(String(lines[1]) == hex)
    }

    @Test func textAndLinesChangePixels() {
        var img = RGBImage(width: 40, height: 10)
        img.text("A1", x: 0, y: 0, colour: .black)
        let inked = stride(from: 0, to: img.pixels.count, by: 3).filter { img.pixels[$0] == 0 }.count
        // 'A' has 18 lit font pixels and '1' has 10 in the 5x7 font.
        #expect(inked == 28)
        img.line(0, 9, 39, 9, colour: RGB(1, 2, 3))
        #expect((0..<40).allSatisfy { img[$0, 9] == RGB(1, 2, 3) })
    }
}
