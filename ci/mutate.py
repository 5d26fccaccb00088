#!/usr/bin/env python3
"""Mutation check of the detector (issue 20): breaks the detector one place at a time and runs the whole test
suite against each break. A mutant is killed when at least one test fails; a surviving mutant is a hole in the
tests. Prints, per mutant, the tests that failed, and exits 1 if any mutant survived.

The committed tree (HEAD) is copied once into a work directory whose build is reused: each mutant costs an
incremental build and one `swift test --no-parallel` (about 5 minutes here). KVM-heavy: never run it beside
another KVM job or a lab QEMU.

    ci/mutate.py                 every mutant
    ci/mutate.py NAME ...        the named ones
    ci/mutate.py --first ...     stop each mutant's suite at its first failing test (a mutant that leaves runs
                                 unexercised makes many tests retry up to their caps: minutes per mutant)
    ci/mutate.py --list          the mutants and what each breaks
    ci/mutate.py --check-only    copy the tree and check that every mutant still applies (exactly once); no build
    ci/mutate.py --without-kvm   the suite with /dev/kvm hidden (MMUTORTURE_KVM_DEVICE=/nonexistent/kvm): which
                                 mutants the tests that need no KVM kill (seconds a mutant after its build; safe
                                 beside a KVM job, though it shares the CPUs)
"""
import os, re, shutil, subprocess, sys, tempfile, time

# name: (file, the text to replace (exactly once), its replacement, what the mutant breaks)
MUTANTS = {
    "guest-generation-compare": ("guests/checker.S", "    jne .Lviolation_generation\n", "    nop\n",
        "the checker never compares a generation read against its publication"),
    "guest-zero-compare": ("guests/checker.S", "    test rcx, rcx\n    jnz .Lviolation\n", "    test rcx, rcx\n    nop\n",
        "the checker accepts any value in a must-read-zero window"),
    "guest-keep-compare": ("guests/checker.S", "    cmp rcx, r8\n    jne .Lviolation\n", "    cmp rcx, r8\n    nop\n",
        "the checker accepts any value in a content-kept window"),
    "guest-old-or-zero-compare": ("guests/checker.S", "    test rcx, rcx\n    jnz .Lkeep\n", "    test rcx, rcx\n    jmp .Lwrite\n",
        "the checker accepts any value in an old-or-zero window (free)"),
    "uffd-wp-never-protects": ("Sources/Torture/Operations/UFFDWriteProtect.swift",
        "UInt64(GuestPage.size), protect ? 1 : 0) == 0", "UInt64(GuestPage.size), 0) == 0",
        "uffd-wp's UFFDIO_WRITEPROTECT never turns the protection on"),
    "dontunmap-window-kept": ("Sources/Torture/Operations/DontUnmap.swift",
        "return .done(CallOutcome(window: .zero, zeroed: page..<page, freedFrames: 1))",
        "return .done(CallOutcome(window: .keep, zeroed: page..<page, freedFrames: 1))",
        "dontunmap promises the moved content at the old address, which reads zero"),
    "guest-control-recheck": ("guests/checker.S", "    cmp rax, rdx\n    jne .Linconclusive\n", "    cmp rax, rdx\n    nop\n",
        "the checker judges a read whose control word changed across it (c1 != c2)"),
    "guest-readback-report": ("guests/checker.S", "    out GUEST_PORT_READBACK, al\n", "    nop\n",
        "the checker counts but never reports a lost write of its own word"),
    "guest-deferred-publish": ("guests/checker.S",
        "    jne .Lpublish_deferred\n    mov [r12 + 8 * GUEST_STATUS_COMPLETE], rax\n",
        "    nop\n    mov [r12 + 8 * GUEST_STATUS_COMPLETE], rax\n",
        "the checker publishes a sweep's number though a write of it was deferred (the page holds an older one)"),
    "guest-deferred-expect": ("guests/checker.S", "    dec rcx\n    jmp .Lwrite_load\n", "    lea rcx, [r8 - 1]\n    jmp .Lwrite_load\n",
        "a deferred page's readback expects the last sweep's number, not the one written before the deferral"),
    "guest-complete-never": ("guests/checker.S", "    mov [r12 + 8 * GUEST_STATUS_COMPLETE], rax\n", "    nop\n",
        "the checker never says a sweep wrote every page, so the dirty oracle's whole-sweep rule never judges"),
    "host-fault-resume-off": ("Sources/Torture/Guest/CheckerFaultPoints.swift",
        "guard let resume = resumption(after: registers.rip) else { return nil }",
        "guard let resume = resumption(after: registers.rip), registers.rip == 0 else { return nil }",
        "the host re-enters the checker at a faulting access: it waits out every must-fault window again"),
    "host-fault-window": ("Sources/Torture/Engine/Mutator+HeldWindows.swift",
        "for p in pages { control.publish(p, kind == .readOnly ? ControlWord.make(.keep, currentGeneration[p]) : ControlWord.make(.fault, takeCounter())) }",
        "for p in pages where kind == .readOnly { control.publish(p, ControlWord.make(.keep, currentGeneration[p])) }",
        "must-fault windows (munmap, mprotect, mremap, truncate, memslot) are never published"),
    "host-content-windows": ("Sources/Torture/Engine/Mutator+Calls.swift",
        "            control.publish(p, kind == .keep || kind == .oldOrZero ? ControlWord.make(kind, currentGeneration[p]) : ControlWord.make(kind, takeCounter()))",
        "            _ = kind == .keep || kind == .oldOrZero ? ControlWord.make(kind, currentGeneration[p]) : ControlWord.make(kind, takeCounter())",
        "must-read-zero, content-kept and old-or-zero windows are never published"),
    "host-old-or-zero-promise": ("Sources/Torture/Engine/Mutator+Calls.swift",
        "kind == .keep || kind == .oldOrZero ? ControlWord.make(kind, currentGeneration[p])",
        "kind == .keep ? ControlWord.make(kind, currentGeneration[p])",
        "an old-or-zero window (free) promises a fresh counter, not the generation the page holds"),
    "host-lost-write-compare": ("Sources/Torture/Engine/LostWriteLedger.swift", "if observed < number {", "if observed < number && observed == UInt64.max {",
        "the host's lost-write compare never fires"),
    "host-missing-flush-judge": ("Sources/Torture/Engine/FlushProbe.swift",
        "guard requestsAfter == requestsBefore else { return nil }",
        "guard requestsAfter == requestsBefore && judgeable == false else { return nil }",
        "the missing-flush oracle never reports a call that moved no flush request"),
    "host-dirty-round-rule": ("Sources/Torture/Engine/DirtyRound.swift",
        "for write in written where !bitmap.isDirty(write.page) && reported",
        "for write in written where write.page < 0 && !bitmap.isDirty(write.page) && reported",
        "the dirty oracle's per-round rule (a word written after harvest N must be in harvest N+1) never fires"),
    "host-trap-poison": ("Sources/Torture/Engine/FrameTraps.swift",
        "trap(index).assumingMemoryBound(to: UInt64.self).update(repeating: poison, count: Int(GUEST_WORDS_PER_PAGE))",
        "_ = trap(index)",
        "a trap never writes its poison, so it never takes the frame just freed"),
    "verdict-ignores-violations": ("Sources/Torture/Report/Verdict.swift",
        "        if !foreign.isEmpty {", "        if !foreign.isEmpty && injection == .poison && false {",
        "the verdict ignores the violations a run saw"),
    "verdict-any-kind-fires-control": ("Sources/Torture/Report/Verdict.swift",
        "$0.value > 0 && !injection.violationKinds.contains($0.key)",
        "$0.value > 0 && (injection == .none && !injection.violationKinds.contains($0.key))",
        "a control counts any violation kind as its own (a real bug during a control run reads control-fired)"),
    "exercised-always": ("Sources/Torture/Report/RunAssessment.swift",
        "return reached && (!judgedByItsWindows || opened == 0 || sampled > 0)",
        "return reached || !reached",
        "every operation counts as exercised, whatever the counters and windows say"),
    "control-nowrite-inert": ("Sources/Torture/Engine/Mutator+Publication.swift", "case .nowrite where republication:",
        "case .nowrite where republication && page < 0:",
        "the nowrite control writes the page after all (the control injects nothing)"),
    "inflight-page-overlap": ("Sources/Torture/Engine/WindowsInFlight.swift",
        "|| open.contains(where: { $0.pages.overlaps(pages) }) else { return nil }",
        "|| open.contains(where: { $0.pages.overlaps(pages) && false }) else { return nil }",
        "a page already in flight may be picked again before its window closed"),
    "window-sampling-credit": ("Sources/Torture/Engine/WindowSampling.swift",
        "credited[kind.index] = from + 1", "credited[kind.index] = before",
        "a check landing while several windows of its kind are open samples every one of them"),
    "inflight-close-late": ("Sources/Torture/Engine/Mutator+Windows.swift",
        "        try closeImminent()\n        try begin(step)\n", "        try begin(step)\n",
        "a window that falls due during the next call closes after it: a whole call longer than its length"),
    "probe-wait-share": ("Sources/Torture/Engine/FlushProbe.swift",
        "    static let waitShare: UInt64 = 39", "    static let waitShare: UInt64 = 0",
        "a probe waiting on slow sweeps comes back one interval after its wait: the mutator spends its time waiting"),
    "sanitizer-poll-ignored": ("Sources/Torture/Host/FlushSanitizer.swift",
        "        guard violations > before else { return }",
        "        guard violations > before && before > UInt64.max - 1 else { return }",
        "the run never turns the kernel's counted late flushes into late-flush violations"),
    "lab-late-flush-console-ignored": ("Sources/Lab/LabJudge.swift",
        "row.kernelFindings.contains(where: { $0.title.contains(ConsoleLog.lateFlushMarker) })",
        "row.kernelFindings.contains(where: { $0.title.contains(ConsoleLog.lateFlushMarker) && $0.title.isEmpty })",
        "the lab does not name late-flush from the sanitizer's console report"),
    "probe-off-beside-dirty-toggle": ("Sources/Torture/Config/AntagonistSpec.swift",
        "            case .dirtyToggle, .clearDirty, .fork, .pageout, .collapse: nil",
        "            case .dirtyToggle: \"off\"\n            case .clearDirty, .fork, .pageout, .collapse: nil",
        "the missing-flush oracle is off beside dirty-toggle again"),
    "stray-mmio-unjudged": ("Sources/Torture/Engine/DataSlotState.swift",
        "        wasStable(since: before) && data.contains(address)",
        "        wasStable(since: before) && data.contains(address) && address == 0",
        "an MMIO exit on a data page with the slot present is never reported"),
    "faults-retried-counts-efaults": ("Sources/Torture/Report/FaultOverlap.swift",
        ' - sum("pf_guest") - Int64(clamping: efaults))', ' - sum("pf_guest"))',
        "a must-fault window's failed re-entries count as faults an invalidation overlapped"),
    "dirty-whole-sweep-skips-page-0": ("Sources/Torture/Engine/DirtyRound.swift",
        "for page in 0..<pages where !bitmap.isDirty(page)", "for page in 1..<pages where !bitmap.isDirty(page)",
        "the dirty oracle's whole-sweep rule never judges page 0"),
    "dirty-harvest-without-whole-sweep": ("Sources/Torture/Engine/DirtyOracle.swift",
        "        guard isDue else { return }\n        awaitWholeSweep()\n", "        guard isDue else { return }\n",
        "a harvest no longer waits for a whole sweep: the whole-sweep rule judges only the rounds a probe's pause happens to cover"),
    "probe-void-rule-off": ("Sources/Torture/Engine/FlushProbe.swift",
        "guard armed == requestsBefore else { report.skippedCounterMoved += 1; return nil }",
        "guard armed == requestsBefore || true else { report.skippedCounterMoved += 1; return nil }",
        "a probe judges a call though something zapped between the proof and the call (a false missing-flush)"),
    "setting-bounds-unchecked": ("Sources/Torture/Config/Configuration.swift",
        "if let wrong = setting.check(self) {", "if let wrong = setting.check(self), setting.key == nil {",
        "the bounds of every setting a scenario can set go unchecked (a huge page count reaches the run)"),
    "long-windows-never": ("Sources/Torture/Engine/WindowsInFlight.swift",
        "contentWindows % Self.longWindowEvery == 0,", "contentWindows % Self.longWindowEvery == -1,",
        "no window is ever held long: early's republication race is seen about once in a thousand steps"),
}


def run(command, cwd, log, env, first=False):
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        while process.poll() is None:
            time.sleep(2)
            if first and failed_tests(log):
                os.killpg(process.pid, 9)
                process.wait()
                return 1
        return process.returncode


def failed_tests(log):
    names = set()
    for line in open(log, errors="replace"):
        m = re.search(r"✘ Test (\S+?\(.*?\))", line)
        if m:
            names.add(m.group(1))
        m = re.search(r"Test Case '-\[(\S+ \S+)\]' failed", line)
        if m:
            names.add(m.group(1))
    return sorted(names)


def main():
    args = sys.argv[1:]
    first = "--first" in args
    check_only = "--check-only" in args
    without_kvm = "--without-kvm" in args
    args = [a for a in args if a not in ("--first", "--check-only", "--without-kvm")]
    if args == ["--list"]:
        for name, (path, _, _, what) in MUTANTS.items():
            print(f"{name:34} {path}: {what}")
        return 0
    unknown = [a for a in args if a not in MUTANTS]
    if unknown:
        print(f"unknown mutant {', '.join(unknown)}; ci/mutate.py --list names them", file=sys.stderr)
        return 64
    names = args or list(MUTANTS)
    root = subprocess.check_output(["git", "rev-parse", "--show-toplevel"], text=True).strip()
    work = os.environ.get("MUTATE_DIR") or tempfile.mkdtemp(prefix="mmutorture-mutate-")
    tree = os.path.join(work, "tree")
    if not os.path.isdir(tree):
        os.makedirs(tree)
        # No shell: a path with a space or a quote is an argument, never a command.
        # tar.umask 022: the lab refuses assets its group could write (git archive's default umask is 002).
        archive = subprocess.Popen(["git", "-C", root, "-c", "tar.umask=022", "archive", "HEAD"], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", tree], stdin=archive.stdout, check=True)
        archive.stdout.close()
        if archive.wait() != 0:
            raise SystemExit("git archive failed")
    env = dict(os.environ, MMUTORTURE_REQUIRE_KVM="1")
    if without_kvm:
        env = dict(os.environ, MMUTORTURE_REQUIRE_KVM="0", MMUTORTURE_KVM_DEVICE="/nonexistent/kvm")
    print(f"work directory {work}", flush=True)
    # Every mutant must apply: a source edit that moved a line makes the check say so, not pass silently.
    for name in names:
        path, old, new, _ = MUTANTS[name]
        count = open(os.path.join(tree, path)).read().count(old)
        if count != 1:
            print(f"mutant {name} does not apply: its text occurs {count} times in {path}", file=sys.stderr)
            return 65
    if check_only:
        print(f"{len(names)} mutants apply to {tree}")
        return 0
    survived = []
    for name in names:
        path, old, new, what = MUTANTS[name]
        file = os.path.join(tree, path)
        original = open(file).read()
        open(file, "w").write(original.replace(old, new))
        started = time.time()
        try:
            log = os.path.join(work, f"{name}.log")
            if run(["swift", "build", "--build-tests"], tree, log, env) != 0:
                print(f"{name}: does not build (see {log})", flush=True)
                survived.append(name)
                continue
            status = run(["swift", "test", "--no-parallel", "--skip-build"], tree, log, env, first=first)
            killers = failed_tests(log)
            minutes = (time.time() - started) / 60
            if status != 0:
                shown = ", ".join(killers) if killers else "(no test named; see the log)"
                stopped = " (stopped at the first)" if first else ""
                print(f"{name}: killed in {minutes:.1f} min by {len(killers)} tests{stopped}: {shown}", flush=True)
            else:
                print(f"{name}: SURVIVED ({what}); log {log}", flush=True)
                survived.append(name)
        finally:
            open(file, "w").write(original)
    print(f"{len(names) - len(survived)} of {len(names)} mutants killed" + (f"; survived: {', '.join(survived)}" if survived else ""))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
