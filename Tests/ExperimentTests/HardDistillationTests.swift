import Federation
import Imaging
import Tensor
import Testing

/// Hard distillation (Federation's `SiteTraining.distilled`, the experiment's `global-distill`).
@Suite struct HardDistillationTests {
    @Test func teacherFillsOnlyUnannotatedOrgansWhereTheSiteSaysBackground() {
        // Site annotates the liver (1). Voxels: site label / teacher label.
        let site: [Float] = [0, 0, 0, 1, 1, 0]
        let teacher: [Float] = [0, 2, 1, 2, 0, 2]
        let y = SiteTraining.distilled(labels: Tensor(shape: [1, 1, 1, 1, 6], scalars: site),
                                       teacher: Tensor(shape: [1, 1, 1, 1, 6], scalars: teacher), annotated: [.liver])
        // Spleen (2) fills background voxels; the teacher's liver never overrides the site's own liver labels.
        #expect(y.scalars == [0, 2, 0, 1, 1, 2])
        #expect(y.shape == [1, 1, 1, 1, 6])
    }
}
