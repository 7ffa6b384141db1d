import CSystem

/// A fixed-size array allocated once and never resized: the backing store of every
/// preallocated table (dialogs, streams, reassembly buffers). Being a class, it is shared
/// rather than copied, so mutation through it never triggers copy-on-write.
public final class FixedArray<Element> {
    public let count: Int
    @usableFromInline let base: UnsafeMutablePointer<Element>

    /// `count` elements of all-zero bytes, from calloc: the kernel hands out pages only as
    /// entries are first written, so a large table costs resident memory in proportion to
    /// what it holds, not to its capacity. Only for plain types whose all-zero bytes are a
    /// valid value (the caller's promise; checked for plainness).
    public init(zeroedCount count: Int) {
        precondition(_isPOD(Element.self))
        self.count = count
        zeroed = true
        let raw = gw_zeroed_alloc(max(count, 1) * MemoryLayout<Element>.stride)!
        base = raw.bindMemory(to: Element.self, capacity: max(count, 1))
    }

    let zeroed: Bool

    public init(repeating value: Element, count: Int) {
        precondition(count >= 0)
        self.count = count
        zeroed = false
        base = UnsafeMutablePointer<Element>.allocate(capacity: max(count, 1))
        base.initialize(repeating: value, count: count)
    }

    deinit {
        if zeroed {
            gw_zeroed_free(base, max(count, 1) * MemoryLayout<Element>.stride)
        } else {
            base.deinitialize(count: count)
            base.deallocate()
        }
    }

    /// Bounds are checked: a bad index is a programming error, not bad input.
    @inlinable public subscript(index: Int) -> Element {
        get {
            precondition(index >= 0 && index < count)
            return base[index]
        }
        set {
            precondition(index >= 0 && index < count)
            base[index] = newValue
        }
    }

    @inlinable public func pointer(at index: Int) -> UnsafeMutablePointer<Element> {
        precondition(index >= 0 && index < count)
        return base + index
    }
}

extension FixedArray where Element == UInt8 {

    /// The bytes `offset ..< offset + length` as a read-only view (no copy).
    @inlinable public func bytes(_ offset: Int, _ length: Int) -> UnsafeRawBufferPointer {
        precondition(offset >= 0 && length >= 0 && offset + length <= count)
        return UnsafeRawBufferPointer(start: base + offset, count: length)
    }

    /// Gives the whole pages within `offset ..< offset + length` back to the kernel: they
    /// read as zeros again and cost resident memory only once written. Only for arrays of
    /// zeroed pages (`init(zeroedCount:)`) of at least 8 KiB, which are mapped, not from
    /// malloc; otherwise, or for less than a page, nothing happens. Returns the bytes given back.
    @discardableResult
    public func releasePages(_ offset: Int, _ length: Int) -> Int {
        precondition(offset >= 0 && length >= 0 && offset + length <= count)
        let page = FixedArray.pageSize
        guard zeroed && count >= 8192 else { return 0 }
        let address = Int(bitPattern: UnsafeMutableRawPointer(base + offset))
        let first = (address + page - 1) / page * page
        let end = (address + length) / page * page
        guard end > first else { return 0 }
        return gw_release_pages(UnsafeMutableRawPointer(bitPattern: first), end - first) == 0 ? end - first : 0
    }

    /// The smallest page any of our targets uses; larger pages are whole multiples of it,
    /// and a range that is not whole pages of the real size is partly kept, never harmed.
    static var pageSize: Int { 4096 }

    @inlinable public func copy(_ source: UnsafeRawBufferPointer, to offset: Int) {
        precondition(offset >= 0 && offset + source.count <= count)
        if source.count > 0 {
            UnsafeMutableRawPointer(base + offset).copyMemory(from: source.baseAddress!, byteCount: source.count)
        }
    }
}
