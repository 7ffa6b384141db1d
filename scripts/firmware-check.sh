#!/usr/bin/env bash
# Checks the firmware binaries made by scripts/firmware.sh:
#
#   scripts/firmware-check.sh [ARCH...]     default: every ARCH in .build-firmware/<arch>/gatewayd
#
# For each binary: the ELF machine (and the hard-float ABI on armv7); the shared libraries it
# needs (readelf NEEDED) must be among libc.so.6, libm.so.6, libpcap.so.0.8, glibc's own
# dynamic loader and lib<X>.so.* for any other `link "X"` of a C module's module map; its
# size; and `--version`, `--help`, and `meter`, `meter --json` and `meter --json --detect-rtp`
# on every capture in Tests/Fixtures and ../shared/corpus (when present) must print what the
# host build prints (stdout, stderr and exit status). aarch64 runs under qemu-aarch64-static
# and armv7 under qemu-arm-static, with the sysroot made by `scripts/firmware.sh
# --install-deps` as the root for the dynamic loader; x86_64 runs natively. Also prints the
# stripped aarch64 size against the 512 KiB target and the x86_64 binary's peak RSS on the
# largest capture (both informational).
#
# The host build is .build/release/gatewayd, else .build/debug/gatewayd (`swift build` is run
# when neither exists), or GATEWAYD_HOST_BINARY. Exits 1 on any difference or unexpected library.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TARGET_KIB=512
ALLOWED_NEEDED="libc.so.6 libm.so.6 libpcap.so.0.8"
# Other libraries the C modules' module maps link (`link "inih"` allows libinih.so.*).
LINKED=$(cat Sources/C*/module.modulemap Sources/C*/include/module.modulemap 2>/dev/null \
    | sed -n 's/^[[:space:]]*link[[:space:]]*"\([^"]*\)".*/\1/p' | grep -vx 'pcap\|m\|c' | sort -u | paste -sd' ' || true)

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# --- what to check ----------------------------------------------------------------------------

archs=("$@")
if [ ${#archs[@]} -eq 0 ]; then
    for a in x86_64 aarch64 armv7 riscv64; do
        [ -f ".build-firmware/$a/gatewayd" ] && archs+=("$a")
    done
    [ ${#archs[@]} -gt 0 ] || { echo "no firmware built: run make firmware-all first" >&2; exit 1; }
fi

host=${GATEWAYD_HOST_BINARY:-}
if [ -z "$host" ]; then
    for h in .build/release/gatewayd .build/debug/gatewayd; do
        [ -x "$h" ] && { host=$h; break; }
    done
fi
if [ -z "$host" ]; then
    echo "== swift build (host reference)"
    swift build --product gatewayd 2>&1 | tail -n 3
    host=.build/debug/gatewayd
fi
[ -x "$host" ] || { echo "no host build at $host" >&2; exit 1; }
if [ -n "$(find Sources -newer "$host" -type f -print -quit)" ]; then
    echo "warning: Sources/ has files newer than $host: run swift build if reports differ" >&2
fi

captures=()
for f in Tests/Fixtures/*.pcap Tests/Fixtures/*.pcapng ../shared/corpus/*.pcap; do
    [ -f "$f" ] && captures+=("$f")
done
[ ${#captures[@]} -gt 0 ] || { echo "no captures found" >&2; exit 1; }
echo "== reference: $host; ${#captures[@]} captures x 3 reports per architecture"

tmp=$(mktemp -d /tmp/gatewayd-fwcheck.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# run_capture OUTPREFIX COMMAND...: stdout, stderr and exit status into OUTPREFIX.{out,err,rc}
run_capture() {
    local prefix=$1; shift
    local rc=0
    # (the braces keep bash's "Illegal instruction" notice of a trapped run off the terminal)
    { "$@" >"$prefix.out" 2>"$prefix.err" </dev/null; } 2>/dev/null || rc=$?
    echo "$rc" >"$prefix.rc"
}

# --- per architecture -------------------------------------------------------------------------

declare -A sizes=()
for arch in "${archs[@]}"; do
    bin=.build-firmware/$arch/gatewayd
    echo "== $arch: $bin"
    if [ ! -f "$bin" ]; then
        fail "$arch: $bin missing (make firmware ARCH=$arch)"
        continue
    fi
    sysroot=${GATEWAYD_SYSROOT:-.build-firmware/sysroot/$arch}
    case "$arch" in
        x86_64)  machine="Advanced Micro Devices X86-64"; runner=() ;;
        aarch64) machine="AArch64"; runner=(qemu-aarch64-static -L "$sysroot") ;;
        armv7)   machine="ARM"; runner=(qemu-arm-static -L "$sysroot") ;;
        *)       fail "$arch: no way to run it here"; continue ;;
    esac

    # ELF machine, and hard float on armv7.
    got=$(readelf -h "$bin" | sed -n 's/^ *Machine: *//p')
    [ "$got" = "$machine" ] || fail "$arch: ELF machine is '$got', not '$machine'"
    if [ "$arch" = armv7 ]; then
        readelf -A "$bin" | grep -q 'Tag_ABI_VFP_args: VFP registers' \
            || fail "armv7: not the hard-float ABI (readelf -A has no 'Tag_ABI_VFP_args: VFP registers')"
    fi

    # Shared libraries: libc, libm, libpcap. On arm and aarch64 glibc keeps the stack
    # protector's __stack_chk_guard in its dynamic loader, so ld-linux-*.so.* is named too:
    # it is part of libc (and is the program interpreter in any case).
    needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | paste -sd' ')
    echo "   NEEDED: $needed"
    for lib in $needed; do
        case " $ALLOWED_NEEDED " in *" $lib "*) continue ;; esac
        case "$lib" in ld-linux-*.so.*) continue ;; esac
        for name in $LINKED; do
            case "$lib" in "lib$name.so."*) echo "   (lib$name: linked by a module map)"; continue 2 ;; esac
        done
        fail "$arch: needs $lib, which is not libc, libm or libpcap${LINKED:+ (nor one of: $LINKED)}"
    done

    size=$(stat -c %s "$bin")
    sizes[$arch]=$size
    echo "   size: $size bytes ($(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1024 }') KiB)"

    if [ ${#runner[@]} -gt 0 ]; then
        command -v "${runner[0]}" >/dev/null || { fail "$arch: ${runner[0]} missing (make deps)"; continue; }
        [ -d "$sysroot" ] || { fail "$arch: no sysroot $sysroot (make deps)"; continue; }
    fi

    checked=0 differing=0
    # --version and --help, then the three reports on every capture.
    runs=("--version" "--help")
    for file in "${captures[@]}"; do
        runs+=("meter $file" "meter --json $file" "meter --json --detect-rtp $file")
    done
    for run in "${runs[@]}"; do
        # shellcheck disable=SC2086 # the words of a run
        run_capture "$tmp/host" "$host" $run
        # shellcheck disable=SC2086
        run_capture "$tmp/fw" "${runner[@]}" "$bin" $run
        checked=$((checked + 1))
        for part in rc out err; do
            if ! cmp -s "$tmp/host.$part" "$tmp/fw.$part"; then
                differing=$((differing + 1))
                fail "$arch: gatewayd $run: $part differs from the host build"
                if [ "$differing" -le 3 ]; then
                    diff "$tmp/host.$part" "$tmp/fw.$part" | head -n 8 | sed 's/^/      /' || true
                    [ "$part" = rc ] && sed 's/^/      stderr: /' "$tmp/fw.err" | head -n 3
                fi
                break
            fi
        done
    done
    echo "   $checked runs compared (--version, --help, 3 meter reports per capture), $differing differ"
done

# --- sizes and memory -------------------------------------------------------------------------

echo "== sizes (stripped)"
for arch in "${archs[@]}"; do
    [ -n "${sizes[$arch]:-}" ] || continue
    printf '   %-8s %8d bytes %7.1f KiB\n' "$arch" "${sizes[$arch]}" "$(awk -v s="${sizes[$arch]}" 'BEGIN { print s / 1024 }')"
done
if [ -n "${sizes[aarch64]:-}" ]; then
    kib=$(awk -v s="${sizes[aarch64]}" 'BEGIN { printf "%.1f", s / 1024 }')
    if [ "${sizes[aarch64]}" -le $((TARGET_KIB * 1024)) ]; then
        echo "   aarch64: $kib KiB, within the $TARGET_KIB KiB target"
    else
        echo "   aarch64: $kib KiB, OVER the $TARGET_KIB KiB target by $(( (sizes[aarch64] - TARGET_KIB * 1024 + 1023) / 1024 )) KiB (informational, not a failure)"
    fi
fi

if [ -f .build-firmware/x86_64/gatewayd ] && [ -x /usr/bin/time ]; then
    largest=${captures[0]}
    for f in "${captures[@]}"; do
        [ "$(stat -c %s "$f")" -gt "$(stat -c %s "$largest")" ] && largest=$f
    done
    for b in .build-firmware/x86_64/gatewayd "$host"; do
        /usr/bin/time -v "$b" meter "$largest" >/dev/null 2>"$tmp/time" || true
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$tmp/time")
        echo "   peak RSS of $b meter $largest ($(stat -c %s "$largest") bytes): ${rss:-?} KiB"
    done
fi

# --check-config accepts a good file and rejects a broken one with the same words as the
# host build.
printf '[node]\nlisten = 127.0.0.1:5060\nthreshold = 0.75\n[sequence]\na = 127.0.0.1:5060\nb = 127.0.0.2:5060\n' > "$tmp/good.conf"
printf '[node]\nlisten = 127.0.0.1:5060\nthreshold = lots\n' > "$tmp/bad.conf"
for arch in aarch64 armv7 x86_64; do
    binary=.build-firmware/$arch/gatewayd
    [ -x "$binary" ] || continue
    case $arch in
        aarch64) runner=(qemu-aarch64-static -L ".build-firmware/sysroot/$arch") ;;
        armv7)   runner=(qemu-arm-static -L ".build-firmware/sysroot/$arch") ;;
        *)       runner=() ;;
    esac
    for conf in good bad; do
        set +e
        expected=$("$host" --check-config -c "$tmp/$conf.conf" 2>&1); expected_status=$?
        got=$("${runner[@]}" "$binary" --check-config -c "$tmp/$conf.conf" 2>&1); got_status=$?
        set -e
        if [ "$expected" != "$got" ] || [ "$expected_status" != "$got_status" ]; then
            fail "$arch --check-config $conf.conf: '$got' ($got_status), host says '$expected' ($expected_status)"
        fi
    done
    echo "   $arch --check-config: good file accepted, broken one rejected, as the host build"
done

# A node under qemu answers a SIPp request to connect with a 302 naming itself (and the
# idle RSS of the native Embedded build, for the record).
if command -v sipp >/dev/null 2>&1; then
    for arch in aarch64 armv7 x86_64; do
        binary=.build-firmware/$arch/gatewayd
        [ -x "$binary" ] || continue
        sysroot=.build-firmware/sysroot/$arch
        case $arch in
            aarch64) runner=(qemu-aarch64-static -L "$sysroot") ;;
            armv7)   runner=(qemu-arm-static -L "$sysroot") ;;
            *)       runner=() ;;
        esac
        port=$((5460 + RANDOM % 100))
        printf '[node]\nlisten = 127.0.0.1:%s\n' "$port" > "$tmp/node-$arch.conf"
        "${runner[@]}" "$binary" -c "$tmp/node-$arch.conf" 2>"$tmp/node-$arch.log" &
        node=$!
        sleep 1
        if [ "$arch" = x86_64 ]; then
            echo "   idle RSS of the x86_64 Embedded node, no capture: $(awk '/VmRSS/ {print $2}' /proc/$node/status) KiB"
        fi
        if (cd "$tmp" && timeout 30 sipp -sf "$OLDPWD/Tests/Scenarios/redirect_uac.xml" -m 3 -i 127.0.0.1 \
                -p $((port + 100)) "127.0.0.1:$port" -trace_logs -log_file "$tmp/sipp-$arch.log" \
                -timeout 20s -timeout_error -nostdin >/dev/null 2>&1) \
            && [ "$(grep -c "contact sip:service@127.0.0.1:$port" "$tmp/sipp-$arch.log")" = 3 ]; then
            echo "   $arch node answered SIPp with 302s naming itself"
        else
            fail "$arch node did not answer SIPp with 302s (log: $(tr '\n' ' ' < "$tmp/node-$arch.log"))"
        fi
        kill "$node" 2>/dev/null || true
        wait "$node" 2>/dev/null || true
    done
fi

# With TLS (make firmware TLS=1): the aarch64 binary's own size against the same target
# (OpenSSL is a shared object beside it), and under qemu it answers an INVITE over TLS with
# a 302, the client checking its certificate (made by scripts/tls-certs).
tls_binary=.build-firmware/aarch64-tls/gatewayd
if [ -x "$tls_binary" ]; then
    size=$(stat -c %s "$tls_binary")
    kib=$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1024 }')
    verdict=$([ "$size" -le $((TARGET_KIB * 1024)) ] && echo "within" || echo "OVER")
    echo "== aarch64 with TLS: $size bytes ($kib KiB) stripped, $verdict the $TARGET_KIB KiB target; without TLS ${sizes[aarch64]:-?} bytes"
    [ "$verdict" = within ] || fail "aarch64 with TLS is over $TARGET_KIB KiB"
    if command -v python3 >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1; then
        sh scripts/tls-certs "$tmp/tls" n1=127.0.0.1 >/dev/null
        port=$((5660 + 2 * (RANDOM % 40)))
        printf '[node]\nlisten = 127.0.0.1:%s\ntls_port = %s\n[tls]\ncertificate = %s\nkey = %s\n' \
            "$port" $((port + 1)) "$tmp/tls/n1.pem" "$tmp/tls/n1.key" > "$tmp/node-tls.conf"
        qemu-aarch64-static -L .build-firmware/sysroot/aarch64 "$tls_binary" -c "$tmp/node-tls.conf" 2>"$tmp/node-tls.log" &
        node=$!
        printf 'INVITE sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:9;branch=z9hG4bKfw1\r\nMax-Forwards: 70\r\nFrom: <sip:c@h>;tag=1\r\nTo: <sip:a@h>\r\nCall-ID: fw-tls\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n' > "$tmp/invite-tls"
        answer=""
        for _ in $(seq 1 50); do
            answer=$(python3 Tests/Scripts/tls_client.py 127.0.0.1 $((port + 1)) --ca "$tmp/tls/ca.pem" \
                     --message "$tmp/invite-tls" --expect 1 --timeout 5 2>/dev/null || true)
            case "$answer" in *"SIP/2.0 302"*) break ;; esac
            sleep 0.2
        done
        case "$answer" in
            *"SIP/2.0 302"*) echo "   aarch64 node with TLS answered an INVITE over TLS with a 302" ;;
            *) fail "aarch64 node with TLS did not answer over TLS: $answer (log: $(tr '\n' ' ' < "$tmp/node-tls.log"))" ;;
        esac
        kill "$node" 2>/dev/null || true
        wait "$node" 2>/dev/null || true
    fi
fi

# The idle RSS of the native Embedded node with a live capture on lo, not counting the
# capture ring (the socket mapping libpcap makes), against the 4 MiB target.
if [ -x .build-firmware/x86_64/gatewayd ]; then
    port=$((5560 + RANDOM % 100))
    printf '[node]\nlisten = 127.0.0.1:%s\n[capture]\ninterface = lo\nfilter = udp port %s\n' "$port" "$port" > "$tmp/idle.conf"
    .build-firmware/x86_64/gatewayd -c "$tmp/idle.conf" 2>"$tmp/idle.log" &
    node=$!
    sleep 2
    if [ -r /proc/$node/smaps ]; then
        read -r total ring < <(awk '/^[0-9a-f]+-[0-9a-f]+ / {name = $6} /^Rss:/ {total += $2; if (name ~ /^socket:/) ring += $2} END {print total, ring + 0}' /proc/$node/smaps)
        idle=$((total - ring))
        verdict=$([ "$idle" -le 4096 ] && echo "within" || echo "OVER")
        echo "   idle RSS of the x86_64 Embedded node with a capture on lo: $idle KiB without the $ring KiB capture ring ($verdict the 4096 KiB target)"
    fi
    kill "$node" 2>/dev/null || true
    wait "$node" 2>/dev/null || true
fi

if [ "$failures" -gt 0 ]; then
    echo "== firmware check: $failures failure(s)"
    exit 1
fi
echo "== firmware check: all good"
