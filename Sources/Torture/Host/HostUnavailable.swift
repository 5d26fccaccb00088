/// Something a run needs that this host lacks (reserved huge pages, root for ksmd, a memory cgroup): the run
/// cannot start. It exits 69 (EX_UNAVAILABLE), naming what is missing and the fix.
public struct HostUnavailable: Error, CustomStringConvertible, Equatable, Sendable {
    /// What needs it: an option (`--op ksm`) or a part of the run (`hugetlb backing`).
    public var what: String
    public var problem: String
    public var fix: String?

    public init(_ what: String, problem: String, fix: String? = nil) {
        self.what = what
        self.problem = problem
        self.fix = fix
    }

    public var description: String { "\(what): \(problem)" + (fix.map { "; \($0)" } ?? "") }
}
