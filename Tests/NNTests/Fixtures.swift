import Foundation
import Tensor
@testable import NN
import SegVizTesting

/// Locates shared/fixtures/monai-unet (SegVizTesting's ``SharedData``).
enum Fixtures {
    static var monaiUNet: URL { SharedData.fixtures.appendingPathComponent("monai-unet") }

    struct Manifest {
        let json: [String: Any]
        var cases: [[String: Any]] { json["cases"] as! [[String: Any]] }
        var segviz: [String: Any] { json["segviz_config"] as! [String: Any] }
    }

    static func manifest() throws -> Manifest {
        let data = try Data(contentsOf: monaiUNet.appendingPathComponent("manifest.json"))
        return Manifest(json: try JSONSerialization.jsonObject(with: data) as! [String: Any])
    }

    static func config(_ c: [String: Any]) -> UNetConfig {
        let norm: Normalization = (c["norm"] as! String) == "batch" ? .batch : .instance
        return UNetConfig(inChannels: c["in_channels"] as! Int, outChannels: c["out_channels"] as! Int,
                          channels: c["channels"] as! [Int], strides: c["strides"] as! [Int],
                          numResUnits: c["num_res_units"] as! Int, norm: norm)
    }
}

/// Largest absolute difference between two float arrays of equal length.
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "maxAbsDiff: \(a.count) vs \(b.count)")
    var m: Float = 0
    for i in a.indices { m = max(m, abs(a[i] - b[i])) }
    return m
}

/// Largest absolute value.
func maxAbs(_ a: [Float]) -> Float { a.reduce(0) { max($0, abs($1)) } }

extension SafetensorsFile {
    func floats(_ name: String) -> [Float] {
        guard case let .f32(_, v)? = tensors[name] else { fatalError("fixture lacks F32 tensor \(name)") }
        return v
    }
    func tensor(_ name: String) -> Tensor { tensors[name]!.tensor! }
    func labels(_ name: String) -> Tensor {
        guard case let .i64(s, v)? = tensors[name] else { fatalError("fixture lacks I64 tensor \(name)") }
        return Tensor(shape: s, scalars: v.map { Float($0) })
    }
}
