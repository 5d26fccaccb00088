import Testing
@testable import Torture

@Suite struct ColumnTextTests {
    @Test func largeCountsAreGroupedInThousands() {
        #expect(0.grouped == "0" && 999.grouped == "999" && 1000.grouped == "1,000")
        #expect(UInt64(83_124_350).grouped == "83,124,350" && Int64(-1234).grouped == "-1,234")
        #expect(UInt64.max.grouped == "18,446,744,073,709,551,615")
    }

    @Test func columnsPadLeftAndRight() {
        #expect("ab".padded(4) == "ab  " && "ab".rightAligned(4) == "  ab" && "abcde".rightAligned(4) == "abcde")
    }
}
