import Basics
import CPcap

/// Options for a live capture, as libpcap's pcap_set_* calls take them.
public struct LiveCaptureOptions: Sendable {
    public var snapshotLength: Int32 = 65_535
    /// The kernel ring buffer, in bytes; 0 keeps libpcap's default.
    public var bufferSize: Int32 = 2 * 1024 * 1024
    /// Deliver each packet at once (immediate mode) instead of in batches of up to
    /// `timeoutMilliseconds`. Off: on Linux immediate mode gives every packet a ring frame of
    /// the snapshot length, about 32 in 2 MiB, and a burst of 200 datagrams lost 120 of them;
    /// batched, the kernel packs packets into blocks (TPACKET_V3) and a burst of 2,000 lost
    /// none. The meter takes the workload once a second, so 100 ms of delay costs nothing.
    public var immediate = false
    public var timeoutMilliseconds: Int32 = 100
    public var promiscuous = false

    public init() {}
}

/// libpcap's own counters for a live capture (`pcap_stats`).
public struct CaptureStatistics: Equatable, Sendable {
    public var received: UInt64 = 0
    /// Dropped because the buffer was full: gatewayd did not read fast enough.
    public var dropped: UInt64 = 0
    /// Dropped by the interface or its driver.
    public var droppedByInterface: UInt64 = 0

    public init() {}
}

/// What reads packets one by one: libpcap (`CaptureSource`) or a mapped file. Generic code
/// over it is specialised, so the read loop calls `next` directly.
public protocol PacketReader: AnyObject {
    var linkType: LinkType { get }
    func next() throws(CaptureError) -> CaptureSource.Next
}

/// One libpcap handle: a capture file (pcap or pcapng) or a live interface.
public final class CaptureSource: PacketReader {
    let handle: OpaquePointer
    public let linkType: LinkType
    public let isLive: Bool

    init(handle: OpaquePointer, isLive: Bool) throws(CaptureError) {
        self.handle = handle
        self.isLive = isLive
        let dlt = pcap_datalink(handle)
        guard let linkType = LinkType(dlt: dlt) else {
            var text = TextBuffer()
            if let name = pcap_datalink_val_to_name(dlt) { text.append(cString: name) } else { text.append("DLT ") }
            text.append(" (")
            text.append(Int(dlt))
            text.append(")")
            pcap_close(handle)
            throw CaptureError(.unsupportedLinkType, message: text.bytes)
        }
        self.linkType = linkType
    }

    deinit { pcap_close(handle) }

    /// Opens a capture file; timestamps are read with nanosecond precision.
    public static func open(file path: UnsafePointer<CChar>) throws(CaptureError) -> CaptureSource {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        let opened = errorBuffer.withUnsafeMutableBufferPointer {
            pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), $0.baseAddress!)
        }
        guard let handle = opened else {
            throw errorBuffer.withUnsafeBufferPointer { CaptureError(.cannotOpenFile, cString: $0.baseAddress!) }
        }
        return try CaptureSource(handle: handle, isLive: false)
    }

    /// Opens a live interface by name (`any` for all of them), in non-blocking mode so that
    /// it can sit in an event loop behind `selectableDescriptor`.
    public static func open(interface name: UnsafePointer<CChar>, options: LiveCaptureOptions)
        throws(CaptureError) -> CaptureSource
    {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        let created = errorBuffer.withUnsafeMutableBufferPointer { pcap_create(name, $0.baseAddress!) }
        guard let handle = created else {
            throw errorBuffer.withUnsafeBufferPointer { CaptureError(.other, cString: $0.baseAddress!) }
        }
        _ = pcap_set_snaplen(handle, options.snapshotLength)
        _ = pcap_set_promisc(handle, options.promiscuous ? 1 : 0)
        _ = pcap_set_timeout(handle, options.timeoutMilliseconds)
        _ = pcap_set_immediate_mode(handle, options.immediate ? 1 : 0)
        if options.bufferSize > 0 { _ = pcap_set_buffer_size(handle, options.bufferSize) }
        _ = pcap_set_tstamp_precision(handle, Int32(PCAP_TSTAMP_PRECISION_NANO))
        let status = pcap_activate(handle)
        if status < 0 {
            let kind: CaptureError.Kind
            switch status {
            case PCAP_ERROR_NO_SUCH_DEVICE: kind = .noSuchInterface
            case PCAP_ERROR_PERM_DENIED, PCAP_ERROR_PROMISC_PERM_DENIED: kind = .permissionDenied
            default: kind = .other
            }
            var text = TextBuffer()
            text.append(cString: name)
            text.append(": ")
            text.append(cString: pcap_geterr(handle))
            pcap_close(handle)
            throw CaptureError(kind, message: text.bytes)
        }
        var errorText = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        _ = errorText.withUnsafeMutableBufferPointer { pcap_setnonblock(handle, 1, $0.baseAddress!) }
        return try CaptureSource(handle: handle, isLive: true)
    }

    /// Installs a BPF filter; libpcap's message says what is wrong with a bad one.
    public func setFilter(_ expression: UnsafePointer<CChar>) throws(CaptureError) {
        var program = bpf_program()
        guard pcap_compile(handle, &program, expression, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            throw CaptureError(.badFilter, cString: pcap_geterr(handle))
        }
        defer { pcap_freecode(&program) }
        guard pcap_setfilter(handle, &program) == 0 else {
            throw CaptureError(.badFilter, cString: pcap_geterr(handle))
        }
    }

    /// The descriptor to wait on in an event loop (live captures), or -1.
    public var selectableDescriptor: Int32 { pcap_get_selectable_fd(handle) }

    /// How soon libpcap needs to be called again even though the descriptor shows nothing,
    /// in nanoseconds, or nil when readiness alone is enough. Linux sets it after an ENETDOWN:
    /// the interface may be merely down or on its way out, and the second kernel notice (the
    /// device unregistered) wakes no one, so only another read finds out that it is gone.
    public var requiredPollNanoseconds: Int64? {
        guard isLive, let interval = pcap_get_required_select_timeout(handle) else { return nil }
        return Int64(interval.pointee.tv_sec) * 1_000_000_000 + Int64(interval.pointee.tv_usec) * 1_000
    }

    public func statistics() -> CaptureStatistics? {
        guard isLive else { return nil }
        var raw = pcap_stat()
        guard pcap_stats(handle, &raw) == 0 else { return nil }
        var result = CaptureStatistics()
        result.received = UInt64(raw.ps_recv)
        result.dropped = UInt64(raw.ps_drop)
        result.droppedByInterface = UInt64(raw.ps_ifdrop)
        return result
    }

    /// One captured packet: `frame` is `caplen` bytes and valid until the next `next()`.
    public enum Next {
        case packet(frame: UnsafeRawBufferPointer, time: PacketTime, wireLength: Int)
        /// A live capture has nothing more for now.
        case idle
        /// The end of a capture file.
        case endOfFile
    }

    /// Reads the next packet. Only `caplen` bytes are handed on; `len`, the length on the
    /// wire, is reported but never used to read.
    public func next() throws(CaptureError) -> Next {
        var header: UnsafeMutablePointer<pcap_pkthdr>? = nil
        var data: UnsafePointer<UInt8>? = nil
        switch pcap_next_ex(handle, &header, &data) {
        case 1:
            let record = header!.pointee
            return .packet(frame: UnsafeRawBufferPointer(start: data, count: Int(record.caplen)),
                           time: PacketTime(seconds: Int64(record.ts.tv_sec), nanoseconds: Int64(record.ts.tv_usec)),
                           wireLength: Int(record.len))
        case 0:
            return .idle
        case PCAP_ERROR_BREAK:
            return .endOfFile
        default:
            throw CaptureError(.readFailed, cString: pcap_geterr(handle))
        }
    }
}
