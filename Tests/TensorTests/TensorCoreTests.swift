import Testing
@testable import Tensor

@Test func tensorShapeAndIndexing() {
    var t = Tensor(zeros: [1, 2, 3, 4, 5])
    #expect(t.count == 120)
    #expect(t.strides == [120, 60, 20, 5, 1])
    t[0, 1, 2, 3, 4] = 7
    #expect(t.scalars[60 + 40 + 15 + 4] == 7)
    #expect(t.reshaped([2, 60]).shape == [2, 60])
}
