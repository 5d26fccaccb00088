// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "mmutorture",
    products: [
        // The typed Swift wrapper over /dev/kvm, usable on its own.
        .library(name: "KVM", targets: ["KVM"]),
        .executable(name: "mmutorture", targets: ["mmutorture"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.2.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
    ],
    targets: [
        // <linux/kvm.h> request codes, size assertions, and the two glibc names the KVM library needs. No logic.
        .target(name: "CKVM", path: "CKVM"),
        // The glibc calls and flags the harness needs that Swift cannot see (affinity, memfd, fallocate, TSC). No logic.
        .target(name: "CHost"),
        // The tiny guest programs, assembled by `swift build`, and guest_abi.h.
        .target(name: "Guests", path: "guests"),
        .target(
            name: "KVM",
            dependencies: ["CKVM", .product(name: "Atomics", package: "swift-atomics")]
        ),
        // The benchmark's plain-C reference loops (not CKVM: that stays a pipe).
        .target(name: "Baseline"),
        // Guest machines: the guest programs loaded at CPL3 on the guest_abi.h layout.
        .target(name: "GuestRuntime", dependencies: ["KVM", "Guests"]),
        .target(
            name: "Torture",
            dependencies: [
                "KVM", "CKVM", "CHost", "Guests", "GuestRuntime", .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // The bench: the engine's steps against the C reference loops, throughput and detection figures, targets.
        .target(
            name: "Bench",
            dependencies: ["Torture", "KVM", "CKVM", "CHost", "Guests", "GuestRuntime", "Baseline", .product(name: "Atomics", package: "swift-atomics")]
        ),
        // The kernel bug lab: QEMU, a distribution kernel and rebuilt KVM modules around the torture.
        .target(name: "Lab", dependencies: ["Torture"]),
        .executableTarget(
            name: "mmutorture",
            dependencies: ["Torture", "Bench", "KVM", "Lab", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The tests' one gate on the real device (skip with the reason, or fail under MMUTORTURE_REQUIRE_KVM=1).
        .target(name: "TestSupport", dependencies: ["KVM"], path: "Tests/TestSupport"),
        .testTarget(name: "KVMTests", dependencies: ["KVM", "Guests", "GuestRuntime", "CKVM", "TestSupport"]),
        .testTarget(name: "TortureTests", dependencies: ["Torture", "KVM", "Guests", "GuestRuntime", "CHost", "TestSupport", .product(name: "Atomics", package: "swift-atomics")]),
        .testTarget(name: "BenchTests", dependencies: ["Bench", "Torture", "TestSupport"]),
        .testTarget(name: "mmutortureTests", dependencies: ["Torture", "Bench", "KVM", "TestSupport"]),
        .testTarget(name: "LabTests", dependencies: ["Lab", "Torture"], exclude: ["Fixtures"]),
    ]
)
