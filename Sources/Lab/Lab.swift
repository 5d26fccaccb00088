import Foundation
import Torture

/// `mmutorture lab`: boots a distribution kernel under QEMU with KVM modules rebuilt from its own source (stock,
/// or with one bug injected), runs the torture inside against the guest's own /dev/kvm, and reports per
/// (variant, MMU, workload, seed) whether the kernel kept its promise, and what caught it when it did not.
public struct Lab {
    public struct Configuration: Sendable {
        public var variants: [Variant]
        /// `tdp` (kvm_amd npt=1 / kvm_intel ept=1) and `shadow` (npt=0 / ept=0).
        public var mmus: [String]
        /// Nil: the catalogue for stock and user patches, the targeted workloads for a mutant.
        public var workloads: [Workload]?
        public var seeds: [UInt64]
        public var seconds: Double
        /// 1-based shard index and count.
        public var shard: (index: Int, count: Int)
        public var accel: String
        public var cacheDirectory: String
        /// The static mmutorture binary for the guest; nil: this binary if it is static, else built.
        public var binary: String?
        public var assets: LabAssets
        /// Keep a VM open in the guest for its whole boot, so no run flips KVM's static keys (the TCG text-patching
        /// hang, LAB.md); false reproduces the hang.
        public var holdStaticKeys = true
        /// Build the flush sanitizer (`lab/flush-sanitizer.patch`) into every variant: the kernel itself checks at
        /// every release of mmu_lock that each zap was flushed first (the seed's class, which TCG cannot show as data).
        public var flushSanitizer = true
        /// Run every workload of a variant on an MMU even after one has caught it (`--keep-going`); by default the
        /// boot stops at its first catch, since the variant's verdict is then known.
        public var keepGoing = false
        /// Let the guest kernel's automatic NUMA balancing run (`--numa-balancing`). Off by default: with the guest's
        /// two NUMA nodes (for `--op migrate`) its scanner fires a protection-change notifier over whole VMAs every
        /// second, and on stock 6.1's TDP MMU such a notifier spanning two memslots releases `mmu_lock` with the
        /// first memslot's zaps unflushed (LAB.md, "The finding"): every stock run would then report it.
        public var numaBalancing = false
        /// Let a `--patch` change the build itself (Makefiles, Kbuild, Kconfig), which runs as the lab's caller.
        public var allowBuildChanges = false

        public init(variants: [Variant], mmus: [String], workloads: [Workload]?, seeds: [UInt64], seconds: Double,
                    shard: (index: Int, count: Int), accel: String, cacheDirectory: String, binary: String?, assets: LabAssets) {
            self.variants = variants
            self.mmus = mmus
            self.workloads = workloads
            self.seeds = seeds
            self.seconds = seconds
            self.shard = shard
            self.accel = accel
            self.cacheDirectory = cacheDirectory
            self.binary = binary
            self.assets = assets
        }
    }

    public var configuration: Configuration
    public var progress: (String) -> Void = { _ in }
    /// Called with the report after every boot, so an interrupted lab still leaves what it found.
    public var checkpoint: (LabReport) -> Void = { _ in }

    public init(configuration: Configuration) { self.configuration = configuration }

    /// What the lab polls to stop early (between boots, and in a boot's watch): the process's signals' unless
    /// given its own.
    public var stop = StopRequest.process

    public func run() throws -> LabReport {
        let c = configuration
        try Self.makeDirectory(c.cacheDirectory, what: "the lab's cache directory", fix: "give one you can write with --cache DIR")
        try Self.checkCacheTrusted(c.cacheDirectory)
        _ = try QEMUBoot.requireQEMU()
        let matrix = LabMatrix(variants: c.variants, mmus: c.mmus, workloads: c.workloads, seeds: c.seeds)
            .shard(c.shard.index, of: c.shard.count)
        progress("lab: \(matrix.cells.count) runs (shard \(c.shard.index)/\(c.shard.count)), \(c.seconds) s each, QEMU \(c.accel)")
        let kernel = LabProcess.keyValues(try c.assets.run("fetch.sh", [c.cacheDirectory]))
        guard let version = kernel["version"], let abi = kernel["abi"], let image = kernel["kernel"], let headers = kernel["headers"],
              let modules = kernel["modules"], let source = kernel["source"] else {
            throw LabError.failed("fetch.sh did not say where the kernel is")
        }
        progress("lab: kernel \(version) (\(abi))")

        let work = try Self.makeWorkDirectory(under: c.cacheDirectory + "/runs")
        defer { try? FileManager.default.removeItem(at: work) }
        let base = work.appendingPathComponent("base.cpio").path
        try c.assets.run("initramfs.sh", ["base", try guestBinary(), modules, c.assets.path("init"),
                                          c.assets.packageRoot.appendingPathComponent("scenarios").path, base])

        var report = LabReport(kernelVersion: version, kernelABI: abi, accel: c.accel, secondsPerWorkload: c.seconds,
                               startedAt: ISO8601DateFormatter().string(from: Date()), variants: c.variants.map(\.info))
        report.flushSanitizer = c.flushSanitizer
        report.numaBalancing = c.numaBalancing
        report.rows = matrix.cells.map { cell in
            LabReport.Row(variant: cell.variant.name, mmu: cell.mmu, workload: cell.workload.name, seed: cell.seed,
                          arguments: innerArguments(cell))
        }
        var builtModules: [String: String] = [:]
        var rowIndex = 0
        for group in matrix.groups where !stop.isRequested {
            let variant = group[0].variant
            if builtModules[variant.name] == nil {
                builtModules[variant.name] = try build(variant, version: version, source: source, headers: headers)
            }
            try LabGroupBoots(cells: group, firstRow: rowIndex, progress: progress, checkpoint: checkpoint, stop: stop).run(into: &report) { cells in
                try boot(cells, modules: builtModules[variant.name]!, base: base, image: image, work: work)
            }
            rowIndex += group.count
        }
        if stop.isRequested { report.interruptedBy = stop.reason }
        return report
    }

    /// `$XDG_CACHE_HOME/mmutorture/lab`, else `$HOME/.cache/mmutorture/lab`; with neither set there is no cache the
    /// caller owns, and the lab will not guess one (a shared place such as /tmp is another user's to plant).
    public static func defaultCache(environment: [String: String]) throws -> String {
        if let cache = environment["XDG_CACHE_HOME"], cache.hasPrefix("/") { return "\(cache)/mmutorture/lab" }
        if let home = environment["HOME"], home.hasPrefix("/") { return "\(home)/.cache/mmutorture/lab" }
        throw LabError.usage("neither XDG_CACHE_HOME nor HOME is set (to an absolute path), so the lab has no cache of yours to use; give one with --cache DIR")
    }

    /// Refuses a cache another user could have written: the lab runs the Makefiles and helpers of the kernel headers
    /// it keeps there, and trusts its build markers.
    static func checkCacheTrusted(_ path: String) throws {
        if let problem = TrustedPath.problem(path) {
            throw LabError.untrusted("the lab's cache \(path) is not safe to use: \(problem); the lab runs the kernel build kept there. "
                + "Use a cache only you (or root) can write, e.g. --cache ~/.cache/mmutorture/lab")
        }
    }

    /// The lab's instrumentation, applied on top of every variant unless `--no-flush-sanitizer`.
    public static let flushSanitizerPatch = "flush-sanitizer.patch"

    /// A directory of this lab's own under `parent` (mkdtemp: a new name, mode 0700), so that labs sharing a cache
    /// (shards in containers, whose PIDs collide) never share one, and the lab deletes only what it made.
    static func makeWorkDirectory(under parent: String) throws -> URL {
        try makeDirectory(parent, what: "the lab's work directory", fix: "give a cache you can write with --cache DIR")
        var template = Array("\(parent)/run-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw LabError.cannotCreate("the lab's work directory cannot be made in \(parent): \(String(cString: strerror(errno)))")
        }
        return URL(fileURLWithPath: String(cString: made))
    }

    /// `mkdir -p`, with the component that could not be made and why (a Foundation error names neither).
    static func makeDirectory(_ path: String, what: String, fix: String) throws {
        var made = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            made += "/" + component
            var status = stat()
            if stat(made, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR { continue }
            if mkdir(made, 0o755) != 0 {
                let reason = errno == EEXIST ? "it is there and is not a directory" : String(cString: strerror(errno))
                throw LabError.cannotCreate("\(what) \(path) cannot be created: \(made): \(reason); \(fix)")
            }
        }
        guard access(path, W_OK) == 0 else {
            throw LabError.cannotCreate("\(what) \(path) is not writable (\(String(cString: strerror(errno)))); \(fix)")
        }
    }

    /// The arguments of the inner `mmutorture run` for a cell.
    func innerArguments(_ cell: LabMatrix.Cell) -> [String] {
        cell.workload.arguments + ["--duration", String(configuration.seconds), "--seed", String(cell.seed), "--stop-after-violation", "3", "--announce-to", "/dev/kmsg"]
    }

    private func build(_ variant: Variant, version: String, source: String, headers: String) throws -> String {
        let patchText = variant.patch.flatMap { FileManager.default.contents(atPath: $0) } ?? Data()
        let script = FileManager.default.contents(atPath: configuration.assets.path("build-variant.sh")) ?? Data()
        let sanitizer = configuration.flushSanitizer ? configuration.assets.path(Self.flushSanitizerPatch) : "-"
        let sanitizerText = configuration.flushSanitizer ? FileManager.default.contents(atPath: sanitizer) ?? Data() : Data()
        let key = LabHash.hex(patchText + script + sanitizerText)
        let out = "\(configuration.cacheDirectory)/modules/\(version)/\(variant.name)-\(key.prefix(12))"
        if !FileManager.default.fileExists(atPath: out + "/.ready") {
            progress("lab: building KVM modules: \(variant.name)" + (configuration.flushSanitizer ? " (with the flush sanitizer)" : ""))
        }
        try configuration.assets.run("build-variant.sh", [source, headers, variant.name, variant.patch ?? "-", out, sanitizer,
                                                           configuration.allowBuildChanges ? "allow-build-changes" : "-"])
        return out
    }

    private func boot(_ cells: [LabMatrix.Cell], modules: String, base: String, image: String, work: URL) throws -> QEMUBoot.Outcome {
        let directory = work.appendingPathComponent("boot-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let plan = cells.map { ([$0.runName] + innerArguments($0)).joined(separator: " ") }.joined(separator: "\n") + "\n"
        try Data(plan.utf8).write(to: directory.appendingPathComponent("plan"))
        let part = directory.appendingPathComponent("boot.cpio").path
        let symbolsWanted = !FileManager.default.fileExists(atPath: QEMUBoot.kernelSymbolsPath(image))
        try configuration.assets.run("initramfs.sh", ["boot", modules, directory.appendingPathComponent("plan").path,
                                                       cells[0].variant.name, cells[0].mmu, part,
                                                       "SEND_KALLSYMS=\(symbolsWanted ? 1 : 0)", "HOLD_STATIC_KEYS=\(configuration.holdStaticKeys ? 1 : 0)"])
        // The kernel reads concatenated cpio archives as one.
        let initrd = directory.appendingPathComponent("initrd.cpio")
        var initrdData = try Data(contentsOf: URL(fileURLWithPath: base))
        initrdData.append(try Data(contentsOf: URL(fileURLWithPath: part)))
        try initrdData.write(to: initrd)
        var qemu = QEMUBoot(kernel: image, initrd: initrd.path, accel: configuration.accel, directory: directory,
                            workloadDeadline: configuration.seconds * 2 + 120, stop: stop)
        qemu.stopAtFirstCatch = !configuration.keepGoing
        qemu.numaBalancing = configuration.numaBalancing
        let outcome = try qemu.run(progress: progress)
        try? FileManager.default.removeItem(at: initrd)
        return outcome
    }

    /// The guest's binary: the one given, this one if it carries the Swift runtime statically, else a static
    /// release build of the source tree the assets came from.
    private func guestBinary() throws -> String {
        if let binary = configuration.binary {
            guard FileManager.default.isExecutableFile(atPath: binary) else { throw LabError.usage("--binary \(binary): not an executable file") }
            return binary
        }
        // procfs files report size 0: read to the end rather than by size.
        let maps = DescriptorIO.readFile("/proc/self/maps").map { String(decoding: $0, as: UTF8.self) } ?? ""
        if !maps.contains("libswiftCore.so") { return URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path }
        let root = configuration.assets.packageRoot.path
        progress("lab: building the guest's binary (swift build -c release --static-swift-stdlib)")
        guard let swift = LabProcess.onPath("swift") else { throw LabError.unavailable("swift is not on PATH; give a static binary with --binary") }
        let scratch = "\(root)/.build-lab"
        try LabProcess.output(swift, ["build", "-c", "release", "--static-swift-stdlib", "--scratch-path", scratch,
                                      "--package-path", root, "--product", "mmutorture"], what: "swift build")
            .split(separator: "\n").last.map { progress("lab: \($0)") }
        return "\(scratch)/release/mmutorture"
    }
}
