/// Every key gatewayd.conf knows, in one table: its section, name, type and range, default,
/// whether a SIGHUP changes it live or it needs a restart, and its documentation. Parsing,
/// validation, defaults, reload, `--check-config` and the reference in docs/gatewayd.conf
/// and gatewayd.conf(5) (`gatewayd config-reference`) all read it; nothing else names a key.
enum ConfigKey: Int, CaseIterable {
    // [node]
    case listen, identity, threshold, hysteresis, drain, recurse, retryAfter, contactExpires
    case forwardTimeout, reservationSeconds, rateLimit, rateBurst, transactions
    case tcp, tcpConnections, tcpConnectionsPerSource, tcpIdleTimeout, tcpMessageTimeout, tlsPort
    case statusFile, statusInterval, prometheusFile, user, logFacility
    // [capacity]
    case calls, streams, rtpRate, sipRate, poorQuality, poorQualityMOS
    // [meter]
    case attemptTimeout, ringingTimeout, silenceTimeout, holdTimeout, noMediaTimeout
    // [capture]
    case captureInterface, captureFilter
    // [sequence]
    case member
    // [health]
    case probeInterval, failuresToDown, successesToUp, skipBusy
    // [hep]
    case hepCollector, hepCaptureID, hepAuthKey
    // [tls]
    case tlsCertificate, tlsKey, tlsCA, tlsVerify, tlsMembers
    // [steering]
    case entryPoints, agentListen, hook, hookTimeout, refreshInterval, entryTimeout, retry
    case agentProbeInterval, failuresToLost, open, mode, path, agentTLSPort
    // [endpoint NAME]
    case endpointKind, endpointIdentity

    var spec: ConfigKeySpec {
        switch self {
        case .listen:
            return ConfigKeySpec(.node, "listen", .endpoint, default: "127.0.0.1:5060", .restart,
                                 "Where requests to connect arrive: IPv4 a.b.c.d:PORT or IPv6 [addr]:PORT. Must be one of the members in [sequence].")
        case .identity:
            return ConfigKeySpec(.node, "identity", .sipURI, unset: "sip:LISTEN;transport=udp", .restart,
                                 "The SIP URI this node hands out in 302s; its transport (;transport=tcp or tls, or sips:) is how requests reach that proxy.", example: "sip:127.0.0.1:5060;transport=udp")
        case .threshold:
            return ConfigKeySpec(.node, "threshold", .decimal(low: 0, lowIncluded: false, high: 10, highIncluded: true),
                                 default: "0.8", .live,
                                 "Accept while the workload (0 = idle, 1 = a resource full) is below this.")
        case .hysteresis:
            return ConfigKeySpec(.node, "hysteresis", .decimal(low: 0, lowIncluded: true, high: 10, highIncluded: false),
                                 default: "0.1", .live, "Once forwarding, accept again only below threshold - hysteresis.",
                                 expected: "a number from 0 to below the threshold")
        case .drain:
            return ConfigKeySpec(.node, "drain", .flag, default: "no", .live, "yes: forward everything and never be chosen.")
        case .recurse:
            return ConfigKeySpec(.node, "recurse", .flag, default: "no", .live,
                                 "yes: for INVITEs and REGISTERs from clients (not from members), follow the group's 302 instead of handing it back: the request goes on to the proxy named (this node's own when it accepts), and the client sees that proxy's answers. For clients that do not follow a 302 (baresip does not, to REGISTER). no: the patent's redirect.")
        case .retryAfter:
            return ConfigKeySpec(.node, "retry_after", .integer(1...86_400), default: "30", .live,
                                 "Seconds in the Retry-After of an \"all busy\" 503.")
        case .contactExpires:
            return ConfigKeySpec(.node, "contact_expires", .integer(1...86_400), default: "60", .live,
                                 "The expires parameter of a 302's Contact, in seconds.")
        case .forwardTimeout:
            return ConfigKeySpec(.node, "forward_timeout_ms", .integer(10...60_000), default: "1000", .live,
                                 "A member that gives no answer (not even 100 Trying) this many milliseconds is skipped.")
        case .reservationSeconds:
            return ConfigKeySpec(.node, "reservation_seconds", .integer(1...3600), default: "32", .live,
                                 "A 302 to an INVITE counts as a call until the meter counts the client's call (ringing or answered, in the capture), or this many seconds.")
        case .rateLimit:
            return ConfigKeySpec(.node, "rate_limit", .integer(0...1_000_000), default: "50", .live,
                                 "Requests per second from one source outside the group (a token bucket; the excess gets 503 with Retry-After); 0 for no limit.")
        case .rateBurst:
            return ConfigKeySpec(.node, "rate_burst", .integer(1...1_000_000), default: "100", .live,
                                 "Requests one source outside the group may send at once.")
        case .transactions:
            return ConfigKeySpec(.node, "transactions", .integer(16...1_000_000), default: "1024", .restart,
                                 "Transactions held at once, each way (server and client).")
        case .tcp:
            return ConfigKeySpec(.node, "tcp", .flag, default: "yes", .restart,
                                 "yes: the node and the steering agent listen on TCP at their listen address and port as well as UDP (RFC 3261 §18: phones send requests near the path MTU over TCP); answers go back on the connection the request came on. no: UDP only.", daemonWide: true)
        case .tcpConnections:
            return ConfigKeySpec(.node, "tcp_connections", .integer(1...65_536), default: "1024", .restart,
                                 "TCP connections open at once (to the node, and as many to the steering agent); one more is accepted and closed at once, counted (refused_limit).", daemonWide: true)
        case .tcpConnectionsPerSource:
            return ConfigKeySpec(.node, "tcp_connections_per_source", .integer(1...65_536), default: "64", .restart,
                                 "TCP connections open at once from one address; beyond, accepted and closed at once, counted (refused_per_source).", daemonWide: true)
        case .tcpIdleTimeout:
            return ConfigKeySpec(.node, "tcp_idle_timeout", .integer(1...86_400), default: "300", .restart,
                                 "Seconds a TCP connection may carry nothing (not even a keep-alive) before it is closed.", daemonWide: true)
        case .tcpMessageTimeout:
            return ConfigKeySpec(.node, "tcp_message_timeout_ms", .integer(10...600_000), default: "5000", .restart,
                                 "Milliseconds a message begun on a TCP connection may take to arrive whole; a connection that stalls mid-message (slowloris) is closed.", daemonWide: true)
        case .tlsPort:
            return ConfigKeySpec(.node, "tls_port", .integer(0...65_535), default: "0", .restart,
                                 "SIP over TLS (sips:, RFC 3261 §26.2): the node listens for TLS connections on this port at its listen address (5061 is the usual one), with the certificate of [tls]; answers go back on the connection the request came on. 0: no TLS.")
        case .statusFile:
            return ConfigKeySpec(.node, "status_file", .path, default: "/run/gatewayd/status.json", .live,
                                 "The status file (JSON, replaced atomically), an absolute path.", daemonWide: true)
        case .statusInterval:
            return ConfigKeySpec(.node, "status_interval", .integer(1...3600), default: "5", .live,
                                 "Seconds between status file writes (it is also written at every change).", daemonWide: true)
        case .prometheusFile:
            return ConfigKeySpec(.node, "prometheus_file", .path, unset: "none", .live,
                                 "The same figures in Prometheus text format for node_exporter's textfile collector, written on the status file's schedule; an absolute path.",
                                 daemonWide: true, example: "/var/lib/node_exporter/textfile/gatewayd.prom")
        case .user:
            return ConfigKeySpec(.node, "user", .user, unset: "stay as started", .restart,
                                 "Started as root: after opening the capture and binding, run as this user and its primary group, with no supplementary groups, keeping only CAP_NET_RAW (to reopen a lost capture). A status directory gatewayd created is handed to the user. Checked when the file is read.",
                                 daemonWide: true, example: "gatewayd")
        case .logFacility:
            return ConfigKeySpec(.node, "log_facility", .facility, default: "daemon", .live, "The syslog facility.",
                                 daemonWide: true)
        case .calls:
            return ConfigKeySpec(.capacity, "calls", .integer(0...10_000_000), default: "100", .live, "Concurrent calls.")
        case .streams:
            return ConfigKeySpec(.capacity, "streams", .integer(0...10_000_000), default: "200", .live,
                                 "RTP streams with a packet in the last 5 seconds.")
        case .rtpRate:
            return ConfigKeySpec(.capacity, "rtp_rate", .integer(0...100_000_000), default: "0", .live,
                                 "RTP packets per second.")
        case .sipRate:
            return ConfigKeySpec(.capacity, "sip_rate", .integer(0...10_000_000), default: "500", .live,
                                 "SIP messages per second.")
        case .poorQuality:
            return ConfigKeySpec(.capacity, "poor_quality", .integer(0...100), default: "0", .live,
                                 "Call quality as a resource: the percentage of active streams scoring below poor_quality_mos at which this node is full; 0 leaves quality out. Each stream is scored by the E-model from its codec (G.711, G.729 or G.723.1; others are not scored), its loss and the packets a 50 ms playout buffer would drop, over its life so far, once it has 50 packets.")
        case .poorQualityMOS:
            return ConfigKeySpec(.capacity, "poor_quality_mos", .decimal(low: 1, lowIncluded: false, high: 4.5, highIncluded: true),
                                 default: "3.6", .live,
                                 "The MOS below which a stream counts as poor: 3.6 is R = 70, where ITU-T G.109 says many users are dissatisfied.")
        case .attemptTimeout:
            return ConfigKeySpec(.meter, "attempt_timeout", .integer(1...3600), default: "32", .live,
                                 "Seconds an INVITE with no answer, or only 100 Trying, is an attempt before it ends (timed_out_no_answer): RFC 3261 Timer B, 64 x T1. Attempts never count as calls. Also how long a 401/407 waits for the INVITE with credentials.")
        case .ringingTimeout:
            return ConfigKeySpec(.meter, "ringing_timeout", .integer(1...86_400), default: "180", .live,
                                 "Seconds an early dialog (a 1xx with a To tag: ringing, early media) lasts after its last provisional response (timed_out_ringing): Timer C's three minutes.")
        case .silenceTimeout:
            return ConfigKeySpec(.meter, "silence_timeout", .integer(3...86_400), default: "60", .live,
                                 "Seconds a confirmed call whose media the capture has seen lasts with no SIP, RTP or RTCP (timed_out_silent): RTP flows every 20-30 ms and RTCP every 5 s, so a minute of nothing is a call whose BYE was lost.")
        case .holdTimeout:
            return ConfigKeySpec(.meter, "hold_timeout", .integer(3...86_400), default: "300", .live,
                                 "The same for a call whose last SDP put it on hold (sendonly, recvonly, inactive or c=0.0.0.0), when RTP may rightly stop (timed_out_on_hold). RTCP still flowing keeps any call alive.")
        case .noMediaTimeout:
            return ConfigKeySpec(.meter, "no_media_timeout", .integer(3...86_400), default: "900", .live,
                                 "Seconds a confirmed call whose media the capture never saw (a proxy that does not carry media) lasts with no SIP (timed_out_no_media). RFC 4028 session timers end any call not refreshed in time (session_expired).")
        case .captureInterface:
            return ConfigKeySpec(.capture, "interface", .interface, default: "none", .restart,
                                 "The interface the proxy's traffic is measured on (a name, or any), or none.")
        case .captureFilter:
            return ConfigKeySpec(.capture, "filter", .text, unset: "none", .restart, "A BPF filter (libpcap syntax).",
                                 example: "udp")
        case .member:
            return ConfigKeySpec(.sequence, "NAME", .member, unset: "this node alone", .restart,
                                 "One line per member, in order: NAME = HOST:PORT [IDENTITY]; at most 64, names and addresses unique, and this node's listen among them. IDENTITY, a sip: URI, is the proxy that member's 302s name: a request naming it is proxied there, never redirected again (known also from the 302s this node relays; this node's own is [node] identity).",
                                 example: "local = 127.0.0.1:5060")
        case .probeInterval:
            return ConfigKeySpec(.health, "probe_interval_ms", .integer(50...600_000), default: "1000", .live,
                                 "Milliseconds between OPTIONS probes to each other member.")
        case .failuresToDown:
            return ConfigKeySpec(.health, "failures_to_down", .integer(1...100), default: "3", .live,
                                 "Unanswered probes before a member is down.")
        case .successesToUp:
            return ConfigKeySpec(.health, "successes_to_up", .integer(1...100), default: "2", .live,
                                 "Answered probes before it is up again.")
        case .skipBusy:
            return ConfigKeySpec(.health, "skip_busy", .flag, default: "no", .live,
                                 "yes: a node that must forward goes straight to the first member after it in the sequence whose last probe answer, no older than two probe intervals, said accepting; members whose answer said forwarding or draining are passed over (the sequence's order is kept among the rest, and no member is visited twice). When every member left said so, the request goes along the sequence as with no.")
        case .hepCollector:
            return ConfigKeySpec(.hep, "collector", .endpoint, unset: "none: no HEP", .restart,
                                 "A Homer collector (heplify-server, sngrep -L, Kamailio's sipcapture): every SIP message the capture sees and every one the node's and the agent's sockets receive and send goes there as HEPv3 over UDP, with the Call-ID as correlation id. Never waits for it: a bounded queue, sent once per turn of the loop; what is lost is counted (status file hep, gatewayd_hep_messages_total).",
                                 daemonWide: true, example: "127.0.0.1:9060")
        case .hepCaptureID:
            return ConfigKeySpec(.hep, "capture_id", .integer(0...2_147_483_647), default: "2001", .restart,
                                 "The capture agent id in each HEP message: tells this gatewayd apart in Homer.", daemonWide: true)
        case .hepAuthKey:
            return ConfigKeySpec(.hep, "auth_key", .text, unset: "none", .restart,
                                 "Sent as the HEP authentication key chunk, for collectors that check one.", daemonWide: true,
                                 example: "secret")
        case .tlsCertificate:
            return ConfigKeySpec(.tls, "certificate", .path, unset: "none", .restart,
                                 "This gatewayd's certificate (PEM, the chain after it), for TLS listeners; needed by tls_port.",
                                 daemonWide: true, example: "/etc/gatewayd/tls/node.pem")
        case .tlsKey:
            return ConfigKeySpec(.tls, "key", .path, unset: "none", .restart,
                                 "The certificate's private key (PEM, unencrypted); readable before privileges are dropped.",
                                 daemonWide: true, example: "/etc/gatewayd/tls/node.key")
        case .tlsCA:
            return ConfigKeySpec(.tls, "ca", .path, unset: "none", .restart,
                                 "The certificates trusted to sign peers' certificates (PEM); needed unless verify = none.",
                                 daemonWide: true, example: "/etc/gatewayd/tls/ca.pem")
        case .tlsVerify:
            return ConfigKeySpec(.tls, "verify", .choice(["none", "peer", "require"]), default: "none", .restart,
                                 "none: a TLS listener asks for no client certificate (phones seldom have one). peer: it asks for one and a client whose certificate does not verify against ca is refused, one without is taken. require: a client without a verified certificate is refused.",
                                 daemonWide: true)
        case .tlsMembers:
            return ConfigKeySpec(.tls, "members", .flag, default: "no", .restart,
                                 "yes: the group runs TLS between members. Requests go on to members over TLS, at each member's address with this node's tls_port (the same on every member), and a member's certificate must name the address it is reached at; a request is taken as a member's only over a TLS connection whose client certificate names the address it comes from, so a forward over UDP or TCP from a member's address is a stranger's (403). Needs tls_port, ca, and verify = peer or require.")
        case .entryPoints:
            return ConfigKeySpec(.steering, "entry_points", .endpointList(maximum: 16), unset: "required", .restart,
                                 "The group's entry points in order, primary first, then fallbacks, separated by commas or spaces.",
                                 example: "127.0.0.1:5060, 127.0.0.2:5060")
        case .agentListen:
            return ConfigKeySpec(.steering, "listen", .endpoint, default: "127.0.0.1:5070", .restart,
                                 "Where local SIP phones send (their outbound proxy); also the agent's own address towards the group. Must differ from the node's listen.")
        case .hook:
            return ConfigKeySpec(.steering, "hook", .executable, unset: "none; required when there are analog or h323 endpoints", .restart,
                                 "Run for analog and h323 endpoints as \"HOOK assigned|busy|lost\", with ENDPOINT, KIND, IDENTITY, PROXY, HOST, PORT, TRANSPORT, EXPIRES or RETRY_AFTER in the environment (docs/hooks.md).",
                                 example: "/etc/gatewayd/hook")
        case .hookTimeout:
            return ConfigKeySpec(.steering, "hook_timeout", .integer(1...600), default: "10", .restart,
                                 "Seconds a hook may run before it is killed.")
        case .refreshInterval:
            return ConfigKeySpec(.steering, "refresh_interval", .integer(5...86_400), default: "30", .restart,
                                 "Seconds after an assignment at the latest before asking again (sooner when it expires sooner: at 80 % of its expiry), less up to 10 % random spread.")
        case .entryTimeout:
            return ConfigKeySpec(.steering, "timeout_ms", .integer(50...60_000), default: "2000", .restart,
                                 "Milliseconds an entry point may stay silent before the next is asked. Keep it above the group's forward_timeout_ms, since an entry point may forward.")
        case .retry:
            return ConfigKeySpec(.steering, "retry", .integer(1...86_400), default: "30", .restart,
                                 "When no entry point answers (or an answer is neither 302 nor 503): \"busy\" for this many seconds, then ask again.")
        case .agentProbeInterval:
            return ConfigKeySpec(.steering, "probe_interval_ms", .integer(50...600_000), default: "1000", .restart,
                                 "Milliseconds between probes (OPTIONS, Max-Forwards 0) of each assigned proxy and of the entry points.")
        case .failuresToLost:
            return ConfigKeySpec(.steering, "failures_to_lost", .integer(1...100), default: "3", .restart,
                                 "Unanswered probes in a row before a proxy is lost (and an entry point down).")
        case .open:
            return ConfigKeySpec(.steering, "open", .flag, default: "no", .restart,
                                 "yes: relay SIP phones that are not configured as endpoints; no: they get 403.")
        case .mode:
            return ConfigKeySpec(.steering, "mode", .choice(["recurse", "redirect"]), default: "recurse", .restart,
                                 "recurse: the agent follows the group's 302 and forwards a phone's INVITE or REGISTER to the proxy named, so the phone sees that proxy's answers and never a 302 (works with every phone tried). redirect: the 302 or 503 is handed back, for phones that follow redirects.")
        case .path:
            return ConfigKeySpec(.steering, "path", .flag, default: "no", .restart,
                                 "With mode = recurse, yes: add Path to REGISTERs (RFC 3327) and Record-Route to INVITEs, so the proxy sends incoming calls and in-dialog requests through the agent. For phones the proxy cannot reach directly (the registrar must store Path).")
        case .agentTLSPort:
            return ConfigKeySpec(.steering, "tls_port", .integer(0...65_535), default: "0", .restart,
                                 "The agent listens for phones' TLS connections on this port at its listen address, with the certificate of [tls]. 0: no TLS.")
        case .endpointKind:
            return ConfigKeySpec(.endpoint, "kind", .choice(["analog", "sip", "h323"]), unset: "required", .restart,
                                 "analog (an FXS line behind the gateway's SIP user agent), sip (a phone that uses the agent as outbound proxy) or h323 (an endpoint behind the gateway's H.323 side).",
                                 example: "analog")
        case .endpointIdentity:
            return ConfigKeySpec(.endpoint, "identity", .endpointIdentity, unset: "required", .restart,
                                 "analog: a line name (asked for as sip:NAME@LISTEN) or a URI; sip: the phone's address of record (sip:user@host, matched against From of INVITEs and To of REGISTERs, without case); h323: its alias (h323:alice@gw, or a name). No spaces.",
                                 example: "fxs1")
        }
    }

    /// The key `name` of `section`; `[sequence]` takes any name.
    static func find(_ section: ConfigSection, _ name: UnsafePointer<CChar>) -> ConfigKey? {
        if section == .sequence { return .member }
        for key in allCases where key.spec.section == section && Arguments.equals(name, key.spec.name) { return key }
        return nil
    }
}

/// The sections of gatewayd.conf, in the order the reference lists them.
enum ConfigSection: Int, CaseIterable {
    case node, capacity, meter, capture, sequence, health, hep, tls, steering, endpoint

    /// As written between brackets; `[endpoint NAME]` is matched by its first word.
    var name: StaticString {
        switch self {
        case .node: return "node"
        case .capacity: return "capacity"
        case .meter: return "meter"
        case .capture: return "capture"
        case .sequence: return "sequence"
        case .health: return "health"
        case .hep: return "hep"
        case .tls: return "tls"
        case .steering: return "steering"
        case .endpoint: return "endpoint"
        }
    }

    var doc: StaticString {
        switch self {
        case .node: return "The node: where it listens, when it accepts, how it answers, and the daemon's own files."
        case .capacity: return "What the workload is measured against; 0 leaves a resource out."
        case .meter:
            return "How the meter ends a call that ends without BYE, CANCEL or a failure: on the clock, which moves once a second with time, not with packets. A call never ends before its timeout and at most 2 s after it (media marks its call once a second); silence timeouts start at 3 s. The calls resource counts early and confirmed dialogs; INVITEs nobody answered are attempts (their own rate). The same as gatewayd meter --attempt-timeout and so on."
        case .capture: return "Where the proxy's traffic is measured."
        case .sequence: return "The predefined sequence, a ring: a request that enters at member k goes to k+1, ... k-1."
        case .health: return "OPTIONS probes between members."
        case .hep: return "Copies of the SIP gatewayd sees, for Homer (HEPv3 over UDP). Without collector nothing is sent."
        case .tls:
            return "The certificate and trust of gatewayd's TLS listeners ([node] tls_port, [steering] tls_port), over OpenSSL 3. Files are read at start, before privileges are dropped."
        case .steering:
            return "Steering the gateway's own endpoints (DESIGN section 5). With a [steering] section gatewayd also runs the steering agent; a file with only [steering], [endpoint NAME] and the daemon keys of [node] (status_file, status_interval, prometheus_file, user, log_facility) runs the agent alone, without a node."
        case .endpoint: return "One section per endpoint; NAME is one word (it is ENDPOINT in the hook's environment)."
        }
    }

    /// The section `text` names (`endpoint NAME` is `.endpoint`).
    static func find(_ text: UnsafePointer<CChar>) -> ConfigSection? {
        for section in allCases where section != .endpoint && Arguments.equals(text, section.name) { return section }
        let prefix: StaticString = "endpoint "
        for i in 0..<prefix.utf8CodeUnitCount where UInt8(bitPattern: text[i]) != prefix.utf8Start[i] { return nil }
        return .endpoint
    }
}

/// What SIGHUP does with a key.
enum ReloadRule {
    /// Takes effect on SIGHUP.
    case live
    /// Read at start; a changed value is named in the reload log line and the running one kept.
    case restart
}

/// One row of the table.
struct ConfigKeySpec {
    let section: ConfigSection
    let name: StaticString
    let type: ConfigType
    /// The value when the file does not set it, written as in the file; empty when an unset
    /// key means what `unset` says (derived, none, required).
    let defaultValue: StaticString
    let unset: StaticString
    let reload: ReloadRule
    let doc: StaticString
    /// What the error and the reference say a good value is; empty: from the type.
    let expected: StaticString
    /// A key of the daemon as a whole: setting it does not make the file configure a node.
    let daemonWide: Bool
    /// For the reference: a value to show (commented out) when there is no default.
    let example: StaticString

    init(_ section: ConfigSection, _ name: StaticString, _ type: ConfigType, default defaultValue: StaticString = "",
         unset: StaticString = "", _ reload: ReloadRule, _ doc: StaticString, expected: StaticString = "",
         daemonWide: Bool = false, example: StaticString = "") {
        self.section = section
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.unset = unset
        self.reload = reload
        self.doc = doc
        self.expected = expected
        self.daemonWide = daemonWide
        self.example = example
    }

}
