import Foundation
import Testing
@testable import Torture

/// The catalogue is a table of operation types: each row is validated, forecast, tallied and documented from its
/// own file. Walks the table without /dev/kvm.
struct OperationTableTests {
    static let rows = OperationTable.rows.map { Operation($0) }

    @Test(arguments: rows)
    func everyRowIsNamedOnceAndFoundByItsName(_ operation: Torture.Operation) {
        #expect(Torture.Operation(rawValue: operation.rawValue) == operation)
        #expect(Torture.Operation.allCases[operation.index] == operation)
        #expect(Self.rows.filter { $0.rawValue == operation.rawValue }.count == 1)
    }

    /// On a backing it does not apply to, the row's own fix is the error's; on one it applies to, only its own
    /// conditions (a system change, guest writers for ksm) stand in the way.
    @Test(arguments: rows)
    func everyRowIsValidatedOnEveryBacking(_ operation: Torture.Operation) throws {
        let row = try #require(operation.row)
        for backing in BackingKind.allCases {
            var configuration = TortureConfiguration()
            (configuration.operation, configuration.backing, configuration.pages) = (operation, backing, 512)
            configuration.mode = .read
            configuration.allowSystemChanges = true
            if row.applies(to: backing) {
                #expect(throws: Never.self, "\(operation) on \(backing)") { try configuration.validate() }
            } else {
                let error = #expect(throws: ConfigurationError.self) { try configuration.validate() }
                #expect(error?.fix == operation.fixFor(backing: backing), "\(operation) on \(backing)")
                #expect(row.backingFix == nil || error?.fix == row.backingFix, "\(operation) on \(backing)")
            }
        }
    }

    /// Every row of the catalogue has the doctor's forecast on each backing it applies to.
    @Test func everyCatalogueRowIsForecastOnEveryBackingItAppliesTo() {
        let forecast = DoctorReport.exercisability(facts: .current())
        for operation in Torture.Operation.catalogue {
            let backings = BackingKind.allCases.filter { operation.applies(to: $0) }.map(\.rawValue)
            #expect(forecast.filter { $0.operation == operation.rawValue }.map(\.backing) == backings, "\(operation)")
        }
        #expect(!Torture.Operation.catalogue.contains(.none) && !Torture.Operation.catalogue.contains(.ksm))
    }

    @Test func everyRowHasATallyOfItsOwn() {
        var tallies = OperationTallies()
        for (count, operation) in Self.rows.enumerated() {
            for _ in 0...count { tallies.update(operation) { $0.count += 1 } }
        }
        for (count, operation) in Self.rows.enumerated() { #expect(tallies[operation]?.count == count + 1, "\(operation)") }
    }

    /// README's table of operations has a row for each (`pageout` / `cold` share one), and `--op` lists each.
    @Test func everyRowIsInREADMEsTableAndTheOpOption() throws {
        let readme = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("README.md"), encoding: .utf8)
        let lines = readme.split(separator: "\n")
        let option = try #require(lines.first { $0.hasPrefix("| `--op` |") })
        for operation in Self.rows + [.mix, .all] {
            #expect(option.contains("`\(operation.rawValue)`"), "--op's row lacks \(operation)")
            guard operation != .none, operation != .all else { continue }
            let named = lines.contains { line in
                line.hasPrefix("| `") && line.split(separator: "|").first.map { cell in
                    cell.split(separator: "/").contains { $0.trimmingCharacters(in: .whitespaces) == "`\(operation.rawValue)`" }
                } == true
            }
            #expect(named, "README's table of operations lacks \(operation)")
        }
    }
}
