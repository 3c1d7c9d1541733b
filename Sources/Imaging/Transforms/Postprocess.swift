/// Post-processing of label maps, as MONAI's `KeepLargestConnectedComponent`.
public extension Volume {
    /// The label map with, for each label in `labels`, only its largest 26-connected component kept
    /// (other components become background, 0), as MONAI's
    /// `KeepLargestConnectedComponent(applied_labels=labels, independent=True, connectivity=3)`.
    /// Ties keep the component met first in memory order (i fastest).
    func keepingLargestComponent(of labels: [Int]) -> Volume {
        var out = self
        let (ni, nj, nk) = (dims[0], dims[1], dims[2])
        // One component map for every label (labels are disjoint); ids restart per label, so a voxel's id is read
        // only together with its label.
        var component = [Int32](repeating: -1, count: voxels.count)
        for label in labels {
            let l = Float(label)
            var sizes = [Int]()
            var stack = [Int]()
            for seed in voxels.indices where voxels[seed] == l && component[seed] < 0 {
                let id = Int32(sizes.count)
                component[seed] = id
                stack.append(seed)
                var size = 0
                while let n = stack.popLast() {
                    size += 1
                    let i = n % ni, j = (n / ni) % nj, k = n / (ni * nj)
                    for dk in -1...1 where k + dk >= 0 && k + dk < nk {
                        for dj in -1...1 where j + dj >= 0 && j + dj < nj {
                            for di in -1...1 where i + di >= 0 && i + di < ni {
                                let m = n + di + ni * (dj + nj * dk)
                                if voxels[m] == l && component[m] < 0 { component[m] = id; stack.append(m) }
                            }
                        }
                    }
                }
                sizes.append(size)
            }
            guard sizes.count > 1, let largest = sizes.indices.max(by: { sizes[$0] < sizes[$1] }) else { continue }
            for n in voxels.indices where voxels[n] == l && component[n] != Int32(largest) { out.voxels[n] = 0 }
        }
        return out
    }
}
