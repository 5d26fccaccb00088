#if canImport(Glibc)
import Glibc
#endif
import CHost

/// `migrate`: `move_pages(2)` of the page to the next NUMA node with memory. The kernel unmaps it (a notifier
/// invalidation), copies it to a new frame and frees the old one: content-kept, and the traps take the old frame.
/// A page the kernel could not move this time (busy) is counted, not fatal. Needs two nodes with memory: the lab's
/// QEMU has two; a host with one exits 69 saying so.
final class Migrate: HostOperation {
    static let name = "migrate"
    static let traits: OperationTraits = [.freesFrames, .probed]
    static func applies(to backing: BackingKind) -> Bool { backing != .hugetlb && backing != .thp }
    static let backingFix: String? = "page migration is tortured on 4 KiB pages (--backing anonymous|shared|memfd|file)"
    static var hostProblem: String? { NUMANodes.problem }
    static func forecast(on backing: BackingKind, facts: HostFacts) -> (exercisable: Bool, reason: String)? {
        NUMANodes.problem.map { (false, $0) }
    }

    private let backing: Backing
    private let nodes = NUMANodes.withMemory
    private var moved = 0
    private var refused: [Int32: Int] = [:]

    init(_ context: StepContext) { backing = context.backing }

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        var address: UnsafeMutableRawPointer? = backing.address(ofPage: page)
        var status: Int32 = -1
        guard chost_move_pages(1, &address, nil, &status) == 0 else {
            throw HostCallError("move_pages", errno: errno, context: "where page \(page) is")
        }
        // A page not present (status < 0) goes to the first node.
        var target = Int32(nodes.first { $0 > Int(status) } ?? nodes[0])
        guard chost_move_pages(1, &address, &target, &status) == 0 else {
            throw HostCallError("move_pages", errno: errno, context: "page \(page) to node \(target)")
        }
        guard status == target else {  // EBUSY, EAGAIN, ENOMEM: this page stays where it was this time
            refused[-status, default: 0] += 1
            return .done(CallOutcome(window: .keep, failed: true, zeroed: page..<page, invalidates: false))
        }
        moved += 1
        return .done(CallOutcome(window: .keep, zeroed: page..<page, freedFrames: 1))
    }

    func notes() -> [String] {
        let refusals = refused.sorted { $0.key < $1.key }.map { "\($1) \(String(cString: strerror($0)))" }
        return ["migrate: \(moved) pages moved between nodes \(nodes.map(String.init).joined(separator: ", "))"
            + (refusals.isEmpty ? "" : "; refused this time (counted as failed calls): " + refusals.joined(separator: ", "))]
    }
}

/// The NUMA nodes that have memory (`/sys/devices/system/node/has_memory`, e.g. "0-1").
private enum NUMANodes {
    static let withMemory: [Int] = {
        guard let list = ProcFile.read("/sys/devices/system/node/has_memory") else { return [0] }
        return list.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").flatMap { part -> [Int] in
            let bounds = part.split(separator: "-").compactMap { Int($0) }
            return bounds.count == 2 ? Array(bounds[0]...bounds[1]) : bounds
        }
    }()

    static var problem: String? {
        withMemory.count >= 2 ? nil
            : "page migration needs two NUMA nodes with memory, and this host has \(withMemory.count) (/sys/devices/system/node/has_memory); the lab's QEMU has two"
    }
}

extension Operation {
    public static let migrate = Operation(Migrate.self)
}
