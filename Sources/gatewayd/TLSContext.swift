import Basics
import CTLS

/// The TLS configuration of every TLS listener, loaded once at start from `[tls]` (before
/// privileges are dropped, so the key may be root's alone): gatewayd's certificate and key,
/// the CA file, how peers are checked. Sessions (`gw_tls`) are made from it per connection.
final class TLSContext {
    let context: OpaquePointer
    /// Whether peers' certificates are checked (`verify` is not `none`).
    let verifiesPeers: Bool

    /// Loaded from `files`; nil, with the file and what is wrong reported, when it cannot be.
    init?(_ files: TLSFiles) {
        var certificate = files.certificate, key = files.key, ca = files.ca
        certificate.append(0)
        key.append(0)
        ca.append(0)
        var error = [CChar](repeating: 0, count: 512)
        let made = certificate.withUnsafeBufferPointer { certificate in
            key.withUnsafeBufferPointer { key in
                ca.withUnsafeBufferPointer { ca in
                    gw_tls_context_new(TLSContext.cString(certificate), TLSContext.cString(key),
                                       files.ca.isEmpty ? nil : TLSContext.cString(ca), Int32(files.verify), &error, error.count)
                }
            }
        }
        guard let made else {
            var message = TextBuffer()
            message.append("[tls]: ")
            error.withUnsafeBufferPointer { message.append(cString: $0.baseAddress!) }
            Output.error(message)
            return nil
        }
        context = made
        verifiesPeers = files.verify != 0
    }

    deinit { gw_tls_context_free(context) }

    static func cString(_ bytes: UnsafeBufferPointer<UInt8>) -> UnsafePointer<CChar> {
        UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
    }

    /// The library's version, for the start line of the log.
    static var library: UnsafePointer<CChar> { gw_tls_library() }
}
