/// The privacy units of a training set: the cases grouped by patient. Several scans of one patient form one unit;
/// a case without a patient id is its own patient. Patients are numbered in the order their first case appears.
public struct PatientGroups: Sendable, Hashable {
    /// For each patient, the indices of its cases (ascending).
    public let cases: [[Int]]
    /// For each case, its patient's index.
    public let patientOfCase: [Int]

    /// Groups cases by `patientIDs[case]` (nil: the case alone).
    public init(patientIDs: [String?]) {
        var index: [String: Int] = [:]
        var cases: [[Int]] = []
        var of: [Int] = []
        for (c, id) in patientIDs.enumerated() {
            if let id, let p = index[id] {
                cases[p].append(c); of.append(p)
            } else {
                if let id { index[id] = cases.count }
                of.append(cases.count); cases.append([c])
            }
        }
        self.cases = cases
        patientOfCase = of
    }

    /// Number of patients.
    public var count: Int { cases.count }
}
