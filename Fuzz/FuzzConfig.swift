// libFuzzer target: the config file, as gatewayd reads /etc/gatewayd.conf and every SIGHUP.
// The input is the file's text: libinih fed line by line, the key table's types and ranges,
// the checks over the whole file, the settings each role is built from, and a reload between
// the input and the defaults in both directions. A file is either taken or refused with a
// problem that names a line the file has (0: the file as a whole) and says what is wrong.
@testable import GatewaydConfig

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = UnsafeRawBufferPointer(start: data, count: size)
    var lines = 1
    for byte in text where byte == 0x0A { lines += 1 }
    do throws(ConfigProblem) {
        let config = try NodeConfig(ConfigFile.parse(text))
        _ = config.nodeSettings()
        _ = config.meterConfiguration()
        _ = config.steering?.settings()
        _ = try? NodeConfig.defaults().reloaded(from: config)
        _ = try? config.reloaded(from: NodeConfig.defaults())
    } catch {
        precondition(error.line >= 0 && error.line <= lines, "a problem at a line the file does not have")
        precondition(error.message.count > 0, "a problem that says nothing")
    }
    return 0
}
