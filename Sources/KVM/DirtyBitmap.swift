/// The dirty pages of one memory slot, as `KVM_GET_DIRTY_LOG` reports them: bit `n` set means page `n` of the
/// slot (4 KiB granularity) was written since the previous harvest.
public struct DirtyBitmap: Equatable, Sendable {
    /// The number of pages the bitmap covers.
    public let pageCount: Int
    /// The bitmap as the kernel lays it out: 64 pages per word, least significant bit first.
    public internal(set) var words: [UInt64]

    public init(pageCount: Int) {
        self.pageCount = pageCount
        self.words = Array(repeating: 0, count: (pageCount + 63) / 64)
    }

    /// A bitmap of `pageCount` pages with the given words (the kernel's layout), e.g. harvested by other means.
    public init(pageCount: Int, words: [UInt64]) {
        self.init(pageCount: pageCount)
        precondition(words.count == self.words.count, "a bitmap of \(pageCount) pages has \(self.words.count) words")
        self.words = words
    }

    /// Marks page `page` dirty (for bitmaps assembled from dirty-ring entries).
    public mutating func mark(_ page: Int) {
        words[page / 64] |= 1 << UInt64(page % 64)
    }

    /// Marks page `page` clean (the dropdirty negative control discards a harvested entry this way).
    public mutating func clear(_ page: Int) {
        words[page / 64] &= ~(1 << UInt64(page % 64))
    }

    public func isDirty(_ page: Int) -> Bool {
        words[page / 64] & (1 << UInt64(page % 64)) != 0
    }

    /// The indices of the dirty pages, in increasing order.
    public var dirtyPages: [Int] {
        (0..<pageCount).filter(isDirty)
    }
}
