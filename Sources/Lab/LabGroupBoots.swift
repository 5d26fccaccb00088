import Torture

/// Boots one variant on one MMU until each of its workloads has run: a boot the guest died in leaves the
/// workloads after the one it died in for the next boot; a boot that hung before its first workload started is
/// booted once more, since under QEMU's TCG the kernel's text patching while KVM loads can hang a stock guest
/// (LAB.md); any other boot that ran nothing ends the group, as the next would end the same way.
struct LabGroupBoots {
    var cells: [LabMatrix.Cell]
    /// Where the group's rows start in the report.
    var firstRow: Int
    var progress: (String) -> Void
    /// Called with the report after every boot.
    var checkpoint: (LabReport) -> Void
    /// No boot begins once it is requested.
    var stop: StopRequest
    /// Boots a second time after a boot that hung before its first workload, at most this often.
    var bootsAgainAfterEarlyHang = 1

    func run(into report: inout LabReport, boot: ([LabMatrix.Cell]) throws -> QEMUBoot.Outcome) rethrows {
        let variant = cells[0].variant.name, mmu = cells[0].mmu
        var pending = Array(cells.indices)
        var bootsLeft = cells.count
        var earlyHangsLeft = bootsAgainAfterEarlyHang
        while !pending.isEmpty && bootsLeft > 0 && !stop.isRequested {
            bootsLeft -= 1
            let planned = pending.map { cells[$0] }
            progress("lab: boot \(variant) on \(mmu): \(planned.map(\.runName).joined(separator: ", "))")
            let outcome = try boot(planned)
            report.boots.append(LabReport.Boot(
                variant: variant, mmu: mmu, workloads: planned.map(\.runName), seconds: outcome.seconds,
                ended: outcome.ended, consoleTail: outcome.ended == "poweroff" ? [] : outcome.console.tail(40),
                markers: outcome.console.lines.filter { $0.contains("mmutorture") },
                hangState: outcome.hangState.isEmpty ? nil : outcome.hangState))
            var stillPending: [Int] = []
            for index in pending {
                let row = LabJudge.row(report.rows[firstRow + index], cell: cells[index], outcome: outcome)
                report.rows[firstRow + index] = row
                if row.verdict == .notRun && outcome.ended != "interrupted" { stillPending.append(index) }
            }
            let ranNothing = stillPending.count == pending.count
            let bootAgain = ranNothing && outcome.hungBeforeFirstWorkload && earlyHangsLeft > 0
            if bootAgain { report.boots[report.boots.count - 1].bootedAgain = true }
            checkpoint(report)
            if ranNothing {
                guard bootAgain else { break }
                earlyHangsLeft -= 1
                bootsLeft += 1
                progress("lab: the guest hung before its first workload started (QEMU's TCG and kernel text patching, LAB.md): booting it again")
            }
            pending = stillPending
        }
    }
}

extension QEMUBoot.Outcome {
    /// Stopped by the lab's watchdog before any workload started, with no init step reported failed.
    var hungBeforeFirstWorkload: Bool { ended == "watchdog" && console.started.isEmpty && console.fatalMessages.isEmpty }
}
