/// Post-processing of label maps, as MONAI's `KeepLargestConnectedComponent`.
public extension Volume {
    /// The label map with, for each label in `labels`, only its largest 26-connected component kept
    /// (other components become background, 0).
    func keepingLargestComponent(of labels: [Int]) -> Volume {
        var out = self
        let (ni, nj, nk) = (dims[0], dims[1], dims[2])
        for label in labels {
            let l = Float(label)
            var component = [Int32](repeating: -1, count: voxels.count)
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
            for n in voxels.indices where component[n] >= 0 && component[n] != Int32(largest) { out.voxels[n] = 0 }
        }
        return out
    }
}
