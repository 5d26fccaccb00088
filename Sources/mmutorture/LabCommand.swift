import ArgumentParser
import Foundation
import Lab
import Torture

/// `mmutorture lab`: the kernel bug lab. Boots Debian's kernel under QEMU with KVM modules rebuilt from its own
/// source (stock, each shipped mutant, or your patch), runs the torture inside on the TDP and the shadow MMU,
/// and writes a lab report: per run, the verdict and which oracle caught the bug.
struct LabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lab",
        abstract: "Run the torture inside QEMU on a distribution kernel with stock or deliberately broken KVM modules.",
        discussion: """
            Needs qemu-system-x86, busybox-static, cpio, make, gcc-12 and libc6-dev (Debian packages), and the package archive \
            (apt-get download fetches the kernel into the cache; nothing is installed on the host). Exit codes: 0 every \
            variant as expected (stock clean, each mutant caught), 1 a clean variant showed a bug, 3 a mutant was not \
            caught, 64 usage, 65 a patch that is malformed or does not apply, 69 a missing tool or package, 70 a run \
            that could not be judged, 130 interrupted.
            """)

    @Option(help: "Module variants: stock, mutant names (lab/mutants/NAME.patch), 'mutants' for every one, or 'all' (stock and every mutant).")
    var variants: String = "all"

    @Option(help: "Your patch to arch/x86/kvm or virt/kvm (repeatable): built and tortured like stock, and expected clean.")
    var patch: [String] = []

    @Option(help: "MMUs: tdp, shadow, or both (comma-separated).")
    var mmu: String = "tdp,shadow"

    @Option(help: "Workloads, comma-separated, or 'all' (default: a mutant's targeted workloads, the whole catalogue for stock and patches).")
    var workloads: String?

    @Option(help: "Seconds of torture per workload.")
    var seconds: Double = 60

    @Option(help: "Seeds: a list (1,2,3) or a range (1-10).")
    var seeds: String = "1"

    @Option(help: "Run only slice K of N of the matrix (K/N, 1-based); merge the slices with 'report merge'.")
    var shard: String = "1/1"

    @Option(help: "QEMU accelerator: tcg (emulation; works anywhere) or kvm (needs nested virtualization on this host).")
    var accel: String = "tcg"

    @Option(help: "Cache for the kernel packages, module builds and initramfs (default ~/.cache/mmutorture/lab).")
    var cache: String?

    @Option(help: "A static mmutorture binary for the guest (default: this one if static, else a static build of the source tree).")
    var binary: String?

    @Option(help: "The lab/ folder of the source tree (default: PREFIX/share/mmutorture/lab beside an installed binary, else the source tree it was built from; never the working directory).")
    var assets: String?

    @Option(help: "Where to write the lab report (JSON).")
    var report: String = "mmutorture-lab.json"

    @Flag(help: "No progress lines.")
    var quiet = false

    @Flag(help: "Build the variants without the flush sanitizer (lab/flush-sanitizer.patch, on by default: the kernel checks at every release of mmu_lock that each SPTE zapped under it was flushed first). To compare, or for a patch that rewrites the lines it instruments.")
    var noFlushSanitizer = false

    @Flag(help: "Run every workload and seed of a variant on an MMU even after one caught it (for catch rates, as LAB.md's tables; by default a boot stops at its first catch: the verdict is known).")
    var keepGoing = false

    @Flag(help: "Let a --patch change the build itself (Makefiles, Kbuild, Kconfig): the build runs as you, so such a patch is refused unless you have read it and pass this.")
    var allowBuildChanges = false

    @Flag(help: "Let the guest kernel balance memory between its two NUMA nodes (off: numa_balancing=disable). Its scanner's notifiers over whole VMAs reproduce LAB.md's finding on stock 6.1's TDP MMU (a notifier spanning two memslots releases mmu_lock with zaps unflushed).")
    var numaBalancing = false

    @Flag(help: "Let each run's vCPU flip KVM's static keys (the guest then hangs now and then under TCG: LAB.md).")
    var letStaticKeysFlip = false

    func validate() throws {
        if !(seconds > 0) { throw ValidationError("--seconds: \(seconds) is not a positive number of seconds") }
        if !["tcg", "kvm"].contains(accel) { throw ValidationError("--accel: '\(accel)' is not tcg or kvm") }
        if parsedMMUs.isEmpty || !parsedMMUs.allSatisfy({ ["tdp", "shadow"].contains($0) }) {
            throw ValidationError("--mmu: '\(mmu)' must name tdp, shadow or both, comma-separated")
        }
        if parsedSeeds == nil { throw ValidationError("--seeds: '\(seeds)' is not a list (1,2,3) or a range (1-10) of seeds") }
        if parsedShard == nil { throw ValidationError("--shard: '\(shard)' is not K/N with 1 <= K <= N") }
        if let workloads { _ = try catchingUsage { try Workload.named(workloads.split(separator: ",").map(String.init)) } }
    }

    var parsedMMUs: [String] { mmu.split(separator: ",").map(String.init) }

    var parsedSeeds: [UInt64]? {
        let parts = seeds.split(separator: "-")
        if parts.count == 2, let low = UInt64(parts[0]), let high = UInt64(parts[1]), low <= high, high - low < 1000 {
            return Array(low...high)
        }
        let list = seeds.split(separator: ",").map { UInt64($0) }
        return list.isEmpty || list.contains(nil) ? nil : list.compactMap { $0 }
    }

    var parsedShard: (index: Int, count: Int)? {
        let parts = shard.split(separator: "/").compactMap { Int($0) }
        guard parts.count == 2, parts[1] >= 1, (1...parts[1]).contains(parts[0]) else { return nil }
        return (parts[0], parts[1])
    }

    func catchingUsage<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as LabError { throw ValidationError(error.description) }
    }

    func chosenVariants(_ assets: LabAssets) throws -> [Variant] {
        let mutants = try Variant.mutants(in: assets)
        var chosen: [Variant] = []
        for name in variants.split(separator: ",").map(String.init) {
            switch name {
            case "all": chosen += [.stock] + mutants
            case "mutants": chosen += mutants
            case "stock": chosen.append(.stock)
            case "none": break
            default:
                guard let mutant = mutants.first(where: { $0.name == name }) else {
                    throw LabError.usage("--variants: unknown variant '\(name)'; known: all, mutants, stock, none, \(mutants.map(\.name).joined(separator: ", "))")
                }
                chosen.append(mutant)
            }
        }
        for path in patch {
            let name = "patch-" + URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            // The name reaches the module's C string, a shell script and the guest's boot configuration.
            guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
                throw LabError.usage("--patch \(path): its file name may use only letters, digits, '.', '_' and '-' (it names the variant); rename the file")
            }
            chosen.append(try Variant.load(patch: path, name: name, expectation: .clean))
        }
        if chosen.isEmpty { throw LabError.usage("nothing to run: --variants none and no --patch") }
        return chosen
    }

    func run() throws {
        StopRequest.installSignalHandlers()
        let result: LabReport
        do {
            let assets = try LabAssets.locate(self.assets)
            let cacheDirectory = try cache ?? Lab.defaultCache(environment: ProcessInfo.processInfo.environment)
            var lab = Lab(configuration: .init(
                variants: try chosenVariants(assets), mmus: parsedMMUs,
                workloads: try workloads.map { try Workload.named($0.split(separator: ",").map(String.init)) },
                seeds: parsedSeeds!, seconds: seconds, shard: parsedShard!, accel: accel, cacheDirectory: cacheDirectory,
                binary: binary, assets: assets))
            lab.configuration.holdStaticKeys = !letStaticKeysFlip
            lab.configuration.flushSanitizer = !noFlushSanitizer
            lab.configuration.allowBuildChanges = allowBuildChanges
            lab.configuration.keepGoing = keepGoing
            lab.configuration.numaBalancing = numaBalancing
            if !quiet { lab.progress = { StandardStreams.error(($0 + "\n")) } }
            do { try AtomicFile.checkWritable(report) } catch {
                StandardStreams.error("mmutorture lab: cannot write the report: \(error)\n")
                throw ExitCode(ExitStatus.cannotCreate.rawValue)
            }
            let path = report
            lab.checkpoint = { partial in try? partial.write(to: path) }
            result = try lab.run()
        } catch let error as LabError {
            StandardStreams.error("mmutorture lab: \(error)\n")
            throw ExitCode(error.exitCode)
        }
        print(result.summary)
        do { try result.write(to: report) } catch {
            StandardStreams.error("mmutorture lab: cannot write the report to \(report): \(error)\n")
            throw ExitCode(ExitStatus.cannotCreate.rawValue)
        }
        print("report: \(report)")
        if result.exitCode != 0 { throw ExitCode(result.exitCode) }
    }
}
