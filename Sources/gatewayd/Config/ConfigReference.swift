import Basics
import Capture

/// `gatewayd config-reference conf|man`: the key table written out as the commented example
/// file (docs/gatewayd.conf) or as the keys part of gatewayd.conf(5). Both files are made
/// by this and a test checks they are up to date, so the docs cannot drift from the table.
enum ConfigReference {
    static func run(_ arguments: inout Arguments) -> Int32 {
        guard let format = arguments.next(), arguments.isAtEnd,
              Arguments.equals(format, "conf") || Arguments.equals(format, "man") else {
            return MeterCommand.usage("config-reference needs conf or man")
        }
        Output.standardOutput(Arguments.equals(format, "conf") ? exampleFile() : manualKeys())
        return 0
    }

    // MARK: docs/gatewayd.conf

    static func exampleFile() -> TextBuffer {
        var out = TextBuffer(capacity: 16_384)
        out.append("""
        ; gatewayd.conf: every key, with its type, range, default and what SIGHUP does with it.
        ; Made by `gatewayd config-reference conf` from the key table (Sources/gatewayd/Config/
        ; ConfigKey.swift): change the table, then run scripts/config-docs, not this file.
        ; gatewayd -c /etc/gatewayd.conf; check a file with gatewayd --check-config -c FILE.
        ; An error is reported as FILE:LINE: what is wrong, and gatewayd exits with status 2.
        ; SIGHUP re-reads the file: "live" keys take effect at once; a changed "restart" key is
        ; named in the log and keeps the value gatewayd started with.

        """)
        for section in ConfigSection.allCases {
            // The agent's sections start it, so they are shown commented out.
            let commented = section == .steering || section == .endpoint
            out.append(byte: 0x0A)
            if commented { out.append(";") }
            out.append("[")
            out.append(section.name)
            out.append(section == .endpoint ? " fxs1]\n" : "]\n")
            wrap(section.doc, prefix: "; ", into: &out)
            for key in ConfigKey.allCases where key.spec.section == section {
                let spec = key.spec
                out.append(";\n")
                wrap(spec.doc, prefix: "; ", into: &out)
                var facts = TextBuffer()
                self.facts(key, into: &facts)
                facts.bytes.withUnsafeBytes { wrap($0, prefix: "; ", into: &out) }
                let hasDefault = spec.defaultValue.utf8CodeUnitCount > 0
                if commented || !hasDefault && key != .member { out.append(";") }
                if key == .member {
                    out.append(spec.example)
                } else {
                    out.append(spec.name)
                    out.append(" = ")
                    out.append(hasDefault ? spec.defaultValue : spec.example)
                }
                out.append(byte: 0x0A)
            }
        }
        return out
    }

    // MARK: gatewayd.conf(5)

    static let manualStart: StaticString = ".\\\" The keys: made by gatewayd config-reference man from the key table; do not edit.\n"
    static let manualEnd: StaticString = ".\\\" End of the keys.\n"

    static func manualKeys() -> TextBuffer {
        var out = TextBuffer(capacity: 16_384)
        out.append(manualStart)
        for section in ConfigSection.allCases {
            out.append(".SH [")
            out.append(section.name)
            out.append(section == .endpoint ? " NAME]\n" : "]\n")
            roff(section.doc, into: &out)
            for key in ConfigKey.allCases where key.spec.section == section {
                out.append(".TP\n.B ")
                out.append(key.spec.name)
                out.append(byte: 0x0A)
                roff(key.spec.doc, into: &out)
                out.append(".br\n")
                var facts = TextBuffer()
                self.facts(key, into: &facts)
                facts.bytes.withUnsafeBytes { roff($0, into: &out) }
            }
        }
        out.append(manualEnd)
        return out
    }

    // MARK: Pieces

    /// `Expected: RANGE. Default: VALUE. On SIGHUP: live|restart.`
    static func facts(_ key: ConfigKey, into text: inout TextBuffer) {
        let spec = key.spec
        text.append("Expected: ")
        ConfigReader.expected(key, into: &text)
        if spec.defaultValue.utf8CodeUnitCount > 0 {
            text.append(". Default: ")
            text.append(spec.defaultValue)
        } else if ConfigType.matches(Array(UnsafeBufferPointer(start: spec.unset.utf8Start, count: spec.unset.utf8CodeUnitCount)), "required") {
            text.append(". Required")
        } else {
            text.append(". Default: ")
            text.append(spec.unset)
        }
        text.append(spec.reload == .live ? ". On SIGHUP: live." : ". On SIGHUP: restart.")
    }

    static func wrap(_ text: StaticString, prefix: StaticString, into out: inout TextBuffer) {
        wrap(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount), prefix: prefix, into: &out)
    }

    /// `text` in lines of at most 92 columns, each starting with `prefix`.
    static func wrap(_ text: UnsafeRawBufferPointer, prefix: StaticString, into out: inout TextBuffer) {
        var column = 0
        var start = 0
        for end in 0...text.count where end == text.count || text[end] == 0x20 {
            defer { start = end + 1 }
            guard end > start else { continue }
            if column > 0 && column + 1 + (end - start) > 92 {
                out.append(byte: 0x0A)
                column = 0
            }
            if column == 0 {
                out.append(prefix)
                column = prefix.utf8CodeUnitCount
            } else {
                out.append(byte: 0x20)
                column += 1
            }
            out.append(bytes: UnsafeRawBufferPointer(rebasing: text[start..<end]))
            column += end - start
        }
        if column > 0 { out.append(byte: 0x0A) }
    }

    static func roff(_ text: StaticString, into out: inout TextBuffer) {
        roff(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount), into: &out)
    }

    /// `text` as roff body lines: backslashes and hyphens escaped, no line starting with a dot.
    static func roff(_ text: UnsafeRawBufferPointer, into out: inout TextBuffer) {
        var plain = TextBuffer()
        wrap(text, prefix: "", into: &plain)
        var lineStart = true
        for byte in plain.bytes {
            if lineStart && (byte == 0x2E || byte == 0x27) { out.append("\\&") }
            if byte == 0x5C { out.append("\\e") } else if byte == 0x2D { out.append("\\-") } else { out.append(byte: byte) }
            lineStart = byte == 0x0A
        }
    }
}
