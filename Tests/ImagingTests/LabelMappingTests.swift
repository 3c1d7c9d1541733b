import Testing
@testable import Imaging

@Suite struct LabelMappingTests {
    @Test func presetsAndSyntax() throws {
        let liver = try LabelMapping(parsing: "msd-liver")
        #expect(liver == (try LabelMapping(parsing: "1:liver,2:liver")))
        #expect(liver.annotatedOrgans == [.liver])
        #expect(liver.map(2) == 1 && liver.map(0) == 0 && liver.map(3) == nil)
        let spleen = try LabelMapping(parsing: "1:spleen")
        #expect(spleen.annotatedOrgans == [.spleen] && spleen.map(1) == 2)
        let btcv = try LabelMapping(parsing: "btcv")
        #expect(btcv.annotatedOrgans == [.liver, .spleen])
        #expect(btcv.map(1) == 2 && btcv.map(6) == 1 && btcv.map(13) == 0 && btcv.map(2) == 0)
        #expect(btcv.description == "1:spleen,6:liver,*:background")
        #expect(try LabelMapping(parsing: btcv.description) == btcv)
        // without * the other BTCV organs are unknown values
        let strict = try LabelMapping(parsing: "1:spleen,6:liver")
        #expect(strict.unknownValues(in: [0, 1, 2, 6, 7]) == [2, 7])
    }

    @Test(arguments: [("1-liver", "1-liver"), ("1:kidney", "1:kidney"), ("x:liver", "x:liver"), ("1:liver,1:spleen", "1:spleen"),
                      ("0:liver", "0:liver"), ("1:background", "1:background"), ("*:liver,*:spleen", "*:spleen"), ("", "")])
    func badTextNamesItem(_ text: String, _ item: String) {
        do { _ = try LabelMapping(parsing: text); Issue.record("\(text) parsed") } catch {
            #expect(error.item == item)
            #expect(error.description.contains("--labels"))
        }
    }

    @Test func applyMapsVolumeAndReportsUnknownValues() throws {
        let g = VoxelGrid(dims: [4, 2, 1], affine: .identity)
        let raw = Volume(grid: g, voxels: [0, 1, 2, 1, 0, 2, 2, 0])
        let mapped = try LabelMapping(parsing: "msd-liver").apply(to: raw)
        #expect(mapped.voxels == [0, 1, 1, 1, 0, 1, 1, 0])
        let spleenOnly = try LabelMapping(parsing: "1:spleen")
        #expect(throws: LabelMapping.UnknownLabels(values: [2])) { try spleenOnly.apply(to: raw) }
        let fractional = Volume(grid: g, voxels: [0, 1, 0.75, 0, 0, 0, 0, 0])
        #expect(throws: LabelMapping.UnknownLabels(values: [1])) { try spleenOnly.apply(to: fractional) }
    }
}
