// libFuzzer target: gatewayd meter's own reader of capture files (classic pcap and pcapng,
// read in place), on whatever a file may hold. The input is the file; libFuzzer's buffer is
// exactly sized, so ASan sees any read past its end. Every packet handed on must lie inside
// the file, and every byte of it is read; a damaged file must end in an error or the end of
// the file. (What follows the reader, decoder and meter, FuzzPacket covers.)
import Capture

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCaptureFile(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard let reader = MappedCaptureFile.reading(bytes) else { return 0 }
    let start = UnsafeRawPointer(data), end = UnsafeRawPointer(data) + size
    var sum: UInt64 = 0
    while true {
        let next: CaptureSource.Next
        do throws(CaptureError) {
            next = try reader.next()
        } catch {
            precondition(error.message.count > 0, "an error that says nothing")
            return 0
        }
        guard case .packet(let frame, let time, let wire) = next else { return 0 }
        precondition(wire >= 0 && time.nanoseconds > Int64.min, "an impossible record")
        if let base = frame.baseAddress {
            precondition(base >= start && base + frame.count <= end, "a packet outside the file")
            for byte in frame { sum &+= UInt64(byte) }
        }
        if sum == 0xDEAD_BEEF_0BAD_F00D { print("unlikely") }
    }
}
