import Foundation
import TestSupport
import Testing

/// A report is input: a real report with one number made extreme at a time (as a hand edit, a broken tool or a
/// corrupted disk would) is rendered, compared and merged, or refused as data (exit 65), never a crash.
@Suite(.serialized, .requiresKVM)
struct ReportFuzzTests {
    let fixtures = RunFixtures.shared
    nonisolated(unsafe) static let extremes: [Any] = [1e19, 1e30, -1, 1.7e308, Int64.max, UInt64.max, -9.5e18]

    /// Every numeric leaf of a JSON value, as a path of keys and indices.
    static func numericPaths(_ value: Any, _ path: [Any] = []) -> [[Any]] {
        if let object = value as? [String: Any] { return object.keys.sorted().flatMap { numericPaths(object[$0]!, path + [$0]) } }
        if let array = value as? [Any] { return array.prefix(3).enumerated().flatMap { numericPaths($0.element, path + [$0.offset]) } }
        // JSONSerialization gives true and false as NSNumber too; they are not numbers to make extreme.
        if let number = value as? NSNumber, String(cString: number.objCType) != "c" { return [path] }
        return []
    }

    static func replacing(_ value: Any, at path: ArraySlice<Any>, with new: Any) -> Any {
        guard let first = path.first else { return new }
        if var object = value as? [String: Any], let key = first as? String {
            object[key] = replacing(object[key]!, at: path.dropFirst(), with: new)
            return object
        }
        if var array = value as? [Any], let index = first as? Int {
            array[index] = replacing(array[index], at: path.dropFirst(), with: new)
            return array
        }
        return value
    }

    @Test func mutatedReportsAreRenderedOrRefusedAsDataNeverACrash() throws {
        let original = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixtures.caught)))
        let paths = Self.numericPaths(original)
        #expect(paths.count > 100, "a real report has many numbers: \(paths.count)")
        // Every seventh leaf, each with the next extreme in turn (a spread over the whole report, every extreme used),
        // and every rate and time a renderer scales or turns into an integer.
        let scaled: Set<String> = ["perSecond", "meanMicroseconds", "conclusivePerSecond", "second", "time", "durationSeconds"]
        let mutated = fixtures.path("mutated.json")
        var tried = 0
        for (index, path) in paths.enumerated() where index % 7 == 0 || (path.last as? String).map(scaled.contains) == true {
            let extreme = Self.extremes[tried % Self.extremes.count]
            tried += 1
            let value = Self.replacing(original, at: path[...], with: extreme)
            try JSONSerialization.data(withJSONObject: value).write(to: URL(fileURLWithPath: mutated))
            for arguments in [["report", "show", mutated], ["report", "html", mutated], ["report", "junit", mutated], ["report", "tap", mutated],
                              ["report", "diff", fixtures.passing, mutated], ["report", "merge", mutated, fixtures.passing, "-o", fixtures.path("fuzz-merged.json")]] {
                let result = try invoke(arguments)
                let where_ = "\(arguments[1]) with \(path.map { "\($0)" }.joined(separator: ".")) = \(extreme)"
                #expect([0, 1, 2, 3, 65].contains(result.status), "\(where_): exit \(result.status): \(result.stderr.suffix(400))")
                #expect(!result.stderr.contains("Fatal error"), "\(where_): \(result.stderr.suffix(400))")
            }
        }
        #expect(tried > 15)
    }
}
