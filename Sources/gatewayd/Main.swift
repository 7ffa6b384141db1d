import Basics
import Capture

/// The process entry point. Embedded Swift has no `CommandLine`, so the executable keeps a
/// C-style entry; SwiftPM links `main` to `gatewayd_main`, and the firmware build does the
/// same with `--defsym`.
@_cdecl("gatewayd_main")
func gatewaydMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var arguments = Arguments(argc: argc, argv: argv, from: 1)
    guard let command = arguments.peek() else {
        return NodeDaemon.run(&arguments)
    }
    if command[0] == 0x2D && !Arguments.equals(command, "-h") && !Arguments.equals(command, "--help")
        && !Arguments.equals(command, "-V") && !Arguments.equals(command, "--version") {
        return NodeDaemon.run(&arguments)
    }
    _ = arguments.next()
    if Arguments.equals(command, "status") {
        return StatusCommand.run(&arguments)
    }
    if Arguments.equals(command, "meter") {
        return MeterCommand.run(&arguments)
    }
    if Arguments.equals(command, "ask") {
        return AskCommand.run(&arguments)
    }
    if Arguments.equals(command, "config-reference") {
        return ConfigReference.run(&arguments)
    }
    if Arguments.equals(command, "-h") || Arguments.equals(command, "--help") {
        Output.standardOutput(Usage.text)
        return 0
    }
    if Arguments.equals(command, "-V") || Arguments.equals(command, "--version") {
        var text = TextBuffer()
        text.append("gatewayd ")
        text.append(Usage.version)
        text.append(byte: 0x0A)
        Output.standardOutput(text)
        return 0
    }
    var message = TextBuffer()
    message.append("unknown command or option: ")
    message.append(cString: command)
    Output.error(message)
    Output.write(Usage.text, to: 2)
    return 2
}

enum Usage {
    static let version: StaticString = "0.1.0"

    static var text: TextBuffer {
        var text = TextBuffer()
        text.append("""
        usage: gatewayd [-c FILE] [-p PIDFILE] [--check-config] [-f] [-d]
               gatewayd status [-s FILE]
               gatewayd meter [options] FILE
               gatewayd ask [-m INVITE|REGISTER|OPTIONS] [-t SECONDS] HOST:PORT
               gatewayd config-reference conf|man
               gatewayd --version | --help

        Without a sub-command gatewayd runs a node of the group, in the foreground, from
        the INI file given with -c (without one: a one-node group on 127.0.0.1:5060), and
        the steering agent for the gateway's endpoints when the file has [steering].
          -c, --config FILE    the configuration file
          -p, --pidfile FILE   write the pid there; refuse to start while a live gatewayd holds it
          --check-config       check the configuration and exit (0 good, 2 bad)
          -f, --foreground     accepted for init scripts; gatewayd never forks
          -d, --debug          more log lines
        SIGHUP re-reads the file (a bad one is logged and the running one kept); SIGUSR1
        writes the status file at once; SIGTERM and
        SIGINT stop: new requests get 503, forwarded ones get their answers, then exit 0.
        Logs go to syslog (daemon, ident gatewayd) and to standard error.

        status: prints the status file (default /run/gatewayd/status.json); exit 1 when it is
        stale, its process is gone or the daemon stopped, 2 when it cannot be read.

        meter: measures the SIP and RTP load in a capture file (pcap or pcapng) and prints
        SIP messages by kind, calls, registrations, RTP streams and the peak workload.
          --json               print JSON for programs instead of the report for people
          --detect-rtp         also take RTP that no SDP announced (RFC 3550 A.1 probation)
          --filter EXPR        a BPF filter applied while reading
          --calls N            capacity: concurrent calls (default 100; 0 leaves it out)
          --streams N          capacity: active RTP streams (default 200)
          --rtp-rate N         capacity: RTP packets per second (default 0, not counted)
          --sip-rate N         capacity: SIP messages per second (default 500)
          --stream-idle S      close a stream after S seconds without packets (default 60)
          --poor-quality P     capacity: percent of streams below MOS 3.6 (default 0, not counted)
          --attempt-timeout S, --ringing-timeout S, --silence-timeout S, --hold-timeout S,
          --no-media-timeout S the [meter] keys of gatewayd.conf(5): when a call without BYE ends
          --close-at S         close the report S seconds after the first packet (later packets
                               are not read; what times out by then has ended)

        exit status: 0 measured, 1 the capture could not be read, 2 bad usage.

        ask: sends one request to connect (INVITE by default) to the entry node HOST:PORT, as a
        client would, and prints the proxy assigned or all busy with Retry-After, how long the
        answer took, and the members the request went through (X-Gatewayd-Path, added by the
        member that answers when the request carries X-Gatewayd-Trace).
          -m, --method M       INVITE, REGISTER or OPTIONS
          -t, --timeout S      give up after S seconds (default 4; sent again at 0.5, 1.5, 3.5 s)
        exit status: 0 assigned, 1 all busy or refused, 2 no answer or bad usage.

        config-reference: every configuration key with its range, default and whether SIGHUP
        changes it, as a commented example file (conf) or as roff for gatewayd.conf(5) (man).

        """)
        return text
    }
}
