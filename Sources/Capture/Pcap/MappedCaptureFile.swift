import Basics
import CSystem

/// A capture file read in place: the file is mapped and each packet handed on as a slice
/// of the mapping, with no copy and no call per packet, where libpcap's `pcap_next_ex`
/// reads the file through a buffer and copies every record. Knows classic pcap (micro- and
/// nanosecond, either byte order) and pcapng (Section Header, Interface Description,
/// Enhanced and Simple Packet blocks; others are skipped). `open` returns nil for what it
/// does not know (another format, a link type or time resolution it does not take, a file
/// that cannot be mapped: a pipe, an empty file), and the caller reads that through
/// libpcap, which also says what is wrong with it.
public final class MappedCaptureFile: PacketReader {
    enum Format {
        case pcap(nanoseconds: Bool)
        case pcapng
    }

    let base: UnsafeRawPointer
    let size: Int
    let format: Format
    /// The file's byte order is not this machine's.
    var swapped: Bool
    public private(set) var linkType: LinkType
    var offset: Int
    /// pcapng: the link type number and time resolution of each interface of the section.
    var interfaceLinkTypes: [UInt32] = []
    var interfaceResolutions: [TimeResolution] = []

    /// pcapng's `if_tsresol`: 10^-n or 2^-n of a second per unit.
    struct TimeResolution: Equatable {
        var power: UInt8
        var binary: Bool
        static let microseconds = TimeResolution(power: 6, binary: false)

        /// Nanoseconds since the epoch from a timestamp in units of this resolution. A
        /// timestamp beyond what 64 bits of nanoseconds hold (the year 2262) wraps, as
        /// libpcap's arithmetic does, rather than stopping the meter.
        func nanoseconds(_ units: UInt64) -> Int64 {
            if binary {
                let seconds = units >> UInt64(power)
                let fraction = units & ((1 << UInt64(power)) - 1)  // below 2^30: times 10^9 fits
                return Int64(truncatingIfNeeded: seconds) &* 1_000_000_000 &+ Int64((fraction * 1_000_000_000) >> UInt64(power))
            }
            if power <= 9 { return Int64(truncatingIfNeeded: units) &* MappedCaptureFile.powersOfTen[9 - Int(power)] }
            return Int64(truncatingIfNeeded: units / UInt64(MappedCaptureFile.powersOfTen[Int(power) - 9]))
        }

        var isSupported: Bool { binary ? power <= 30 : power <= 18 }
    }

    static let powersOfTen: [Int64] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000,
                                       1_000_000_000]

    /// The largest record accepted, as libpcap's (a bigger one means a corrupt file).
    static let largestRecord = 262_144

    /// Whether the reader unmaps `base` when it goes.
    var owned: Bool

    private init(base: UnsafeRawPointer, size: Int, format: Format, swapped: Bool, linkType: LinkType, offset: Int,
                 owned: Bool) {
        self.owned = owned
        self.base = base
        self.size = size
        self.format = format
        self.swapped = swapped
        self.linkType = linkType
        self.offset = offset
    }

    deinit { if owned { gw_unmap_file(base, size) } }

    /// The file at `path` mapped and its header read; nil when this reader leaves it to libpcap.
    public static func open(file path: UnsafePointer<CChar>) -> MappedCaptureFile? {
        var size = 0
        var error: Int32 = 0
        guard let mapped = gw_map_file(path, &size, &error) else { return nil }
        let reader = make(UnsafeRawPointer(mapped), size, owned: true)
        if reader == nil { gw_unmap_file(mapped, size) }
        return reader
    }

    /// A reader of a capture file already in memory (fuzzing, tests): `bytes` must outlive it.
    public static func reading(_ bytes: UnsafeRawBufferPointer) -> MappedCaptureFile? {
        guard let base = bytes.baseAddress else { return nil }
        return make(base, bytes.count, owned: false)
    }

    static func make(_ base: UnsafeRawPointer, _ size: Int, owned: Bool) -> MappedCaptureFile? {
        if size >= 24, let classic = classicHeader(base) {
            // 12 and 14 mean different things on different systems: left to libpcap.
            let type = load32(base, 20, swapped: classic.swapped) & 0x03FF_FFFF
            guard let linkType = LinkType(dlt: Int32(bitPattern: type)), type != 12, type != 14 else { return nil }
            return MappedCaptureFile(base: base, size: size, format: .pcap(nanoseconds: classic.nanoseconds),
                                     swapped: classic.swapped, linkType: linkType, offset: 24, owned: owned)
        }
        if size >= 28, base.loadUnaligned(as: UInt32.self) == 0x0A0D_0D0A {
            // The link type comes with the first Interface Description Block: read up to it.
            let reader = MappedCaptureFile(base: base, size: size, format: .pcapng, swapped: false,
                                           linkType: .ethernet, offset: 0, owned: false)
            guard reader.readsFirstInterface() else { return nil }
            reader.owned = owned
            return reader
        }
        return nil
    }

    static func classicHeader(_ base: UnsafeRawPointer) -> (swapped: Bool, nanoseconds: Bool)? {
        switch base.loadUnaligned(as: UInt32.self) {
        case 0xA1B2_C3D4: return (false, false)
        case 0xD4C3_B2A1: return (true, false)
        case 0xA1B2_3C4D: return (false, true)
        case 0x4D3C_B2A1: return (true, true)
        default: return nil
        }
    }

    @inline(__always) static func load32(_ base: UnsafeRawPointer, _ offset: Int, swapped: Bool) -> UInt32 {
        let value = base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        return swapped ? value.byteSwapped : value
    }

    @inline(__always) func u32(_ at: Int) -> UInt32 { MappedCaptureFile.load32(base, at, swapped: swapped) }

    @inline(__always) func u16(_ at: Int) -> UInt16 {
        let value = base.loadUnaligned(fromByteOffset: at, as: UInt16.self)
        return swapped ? value.byteSwapped : value
    }

    /// The next packet, `.endOfFile` at the end; a record that runs past the end of the file
    /// or claims an impossible length is an error, as libpcap reports it.
    @inline(__always) public func next() throws(CaptureError) -> CaptureSource.Next {
        switch format {
        case .pcap(let nanoseconds):
            let left = size - offset
            if left == 0 { return .endOfFile }
            guard left >= 16 else { throw truncated("a record header", left) }
            let seconds = Int64(u32(offset)), fraction = Int64(u32(offset + 4))
            let captured = Int(u32(offset + 8)), wire = Int(u32(offset + 12))
            guard captured <= MappedCaptureFile.largestRecord else { throw corrupt(captured) }
            guard captured <= left - 16 else { throw truncated("a packet", left - 16) }
            let frame = UnsafeRawBufferPointer(start: base + offset + 16, count: captured)
            offset += 16 + captured
            return .packet(frame: frame, time: PacketTime(seconds: seconds, nanoseconds: nanoseconds ? fraction : fraction &* 1000),
                           wireLength: wire)
        case .pcapng:
            return try nextBlock()
        }
    }

    /// pcapng: blocks up to the next packet.
    func nextBlock() throws(CaptureError) -> CaptureSource.Next {
        while true {
            if let next = try block() { return next }
        }
    }

    /// The block at `offset`, read and passed: a packet or the end of the file, or nil when
    /// it was something else (a section, an interface, a block the meter has no use for).
    func block() throws(CaptureError) -> CaptureSource.Next? {
        let left = size - offset
        if left == 0 { return .endOfFile }
        guard left >= 12 else { throw truncated("a block header", left) }
        if base.loadUnaligned(fromByteOffset: offset, as: UInt32.self) == 0x0A0D_0D0A {
            try section()
            return nil
        }
        let type = u32(offset), length = Int(u32(offset + 4))
        guard length >= 12, length % 4 == 0 else { throw corrupt(length) }
        guard length <= left else { throw truncated("a block", left) }
        let body = offset + 8, end = offset + length - 4
        offset += length
        switch type {
        case 1:  // Interface Description
            guard end - body >= 8 else { throw corrupt(length) }
            try interface(body, end)
            return nil
        case 6:  // Enhanced Packet
            guard end - body >= 20 else { throw corrupt(length) }
            let interface = Int(u32(body))
            guard interface < interfaceResolutions.count else { throw unknownInterface(interface) }
            let units = UInt64(u32(body + 4)) << 32 | UInt64(u32(body + 8))
            let captured = Int(u32(body + 12)), wire = Int(u32(body + 16))
            guard captured <= end - body - 20, captured <= MappedCaptureFile.largestRecord else { throw corrupt(captured) }
            return .packet(frame: UnsafeRawBufferPointer(start: base + body + 20, count: captured),
                           time: PacketTime(nanoseconds: interfaceResolutions[interface].nanoseconds(units)),
                           wireLength: wire)
        case 3:  // Simple Packet: interface 0, no time
            guard end - body >= 4, !interfaceResolutions.isEmpty else { throw corrupt(length) }
            let wire = Int(u32(body))
            return .packet(frame: UnsafeRawBufferPointer(start: base + body + 4, count: min(wire, end - body - 4)),
                           time: .zero, wireLength: wire)
        default:
            return nil  // name resolution, statistics, secrets, custom: nothing for the meter
        }
    }

    /// A Section Header Block at `offset`: its byte order; the interfaces start afresh.
    func section() throws(CaptureError) {
        guard size - offset >= 28 else { throw truncated("a section header", size - offset) }
        switch base.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self) {
        case 0x1A2B_3C4D: swapped = false
        case 0x4D3C_2B1A: swapped = true
        default: throw corrupt(0)
        }
        let length = Int(u32(offset + 4))
        guard length >= 28, length % 4 == 0, length <= size - offset else { throw truncated("a section header", size - offset) }
        offset += length
        interfaceLinkTypes.removeAll(keepingCapacity: true)
        interfaceResolutions.removeAll(keepingCapacity: true)
    }

    /// An Interface Description Block's body: its link type (all of a file's must be one the
    /// meter takes, and the same) and `if_tsresol` among its options.
    func interface(_ body: Int, _ end: Int) throws(CaptureError) {
        let type = UInt32(u16(body))
        var resolution = TimeResolution.microseconds
        var option = body + 8
        while option + 4 <= end {
            let code = u16(option), length = Int(u16(option + 2))
            if code == 0 { break }
            if code == 9 && length == 1 && option + 4 < end {
                let value = base.load(fromByteOffset: option + 4, as: UInt8.self)
                resolution = TimeResolution(power: value & 0x7F, binary: value & 0x80 != 0)
            }
            option += 4 + (length + 3) & ~3
        }
        guard resolution.isSupported else { throw unsupported("a time resolution") }
        if let first = interfaceLinkTypes.first, first != type { throw unsupported("interfaces of different link types") }
        guard let linkType = LinkType(dlt: Int32(bitPattern: type)), type != 12, type != 14 else {
            throw unsupported("a link type")
        }
        self.linkType = linkType
        interfaceLinkTypes.append(type)
        interfaceResolutions.append(resolution)
    }

    /// Reads the blocks before the first packet (at least the first interface), then starts
    /// over from the top; false when the file has none this reader takes.
    func readsFirstInterface() -> Bool {
        while interfaceResolutions.isEmpty {
            do throws(CaptureError) {
                // A packet, or the end, before any interface; or a damaged block.
                if try block() != nil { return false }
            } catch {
                return false
            }
        }
        offset = 0
        interfaceLinkTypes.removeAll(keepingCapacity: true)
        interfaceResolutions.removeAll(keepingCapacity: true)
        return true
    }

    func truncated(_ what: StaticString, _ left: Int) -> CaptureError {
        failure(.readFailed) { text in
            text.append("truncated capture file: ")
            text.append(what)
            text.append(" at byte ")
            text.append(offset)
            text.append(" runs past the end (")
            text.append(left)
            text.append(" bytes left)")
        }
    }

    func corrupt(_ length: Int) -> CaptureError {
        failure(.readFailed) { text in
            text.append("corrupt capture file: a record or block near byte ")
            text.append(offset)
            text.append(" has an impossible length (")
            text.append(length)
            text.append(")")
        }
    }

    func unknownInterface(_ index: Int) -> CaptureError {
        failure(.readFailed) { text in
            text.append("corrupt capture file: a packet names interface ")
            text.append(index)
            text.append(", which the section did not describe")
        }
    }

    func unsupported(_ what: StaticString) -> CaptureError {
        failure(.unsupportedLinkType) { text in
            text.append("pcapng with ")
            text.append(what)
            text.append(" the meter does not take")
        }
    }

    func failure(_ kind: CaptureError.Kind, _ describe: (inout TextBuffer) -> Void) -> CaptureError {
        var text = TextBuffer()
        describe(&text)
        return CaptureError(kind, message: text.bytes)
    }
}
