import CSystem

/// Finding one byte in a buffer with libc's `memchr`, which reads a word or a vector at a
/// time: the scanners' line walks look for each line's end this way.
public enum ByteSearch {
    /// Where `byte` first occurs in `buffer` from `start` up to `end`, or `end` when it does not.
    /// Inlinable: the SIP scanners call it for every line.
    @inlinable @inline(__always)
    public static func first(_ byte: UInt8, in buffer: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int {
        guard start < end, let base = buffer.baseAddress else { return end }
        guard let found = memchr(base + start, Int32(byte), end - start) else { return end }
        return base.distance(to: UnsafeRawPointer(found))
    }
}
