#!/usr/bin/env bash
# Cross-builds the gatewayd executable in Embedded Swift mode for a Linux gateway.
#
#   scripts/firmware.sh --install-deps        Debian packages + target sysroots (as root)
#   scripts/firmware.sh ARCH...               ARCH: x86_64 | aarch64 | armv7 | all
#
# Writes one stripped binary per architecture to .build-firmware/<arch>/gatewayd and prints
# its size. Each Swift module is compiled once (-wmo) for the target with the Swift toolchain,
# the C shims with the target's C compiler, and the whole is linked by the target's C compiler
# against the target's libc, libm and libpcap.
#
# The defaults use Debian 12's cross compilers and a sysroot per architecture made of Debian's
# own packages (libc6-dev, libpcap0.8-dev and what libpcap needs at run time), unpacked with
# `apt-get download` + `dpkg -x` into .build-firmware/sysroot/<arch>: nothing foreign is
# installed on the host. Everything can be overridden from the environment, which is how the
# Buildroot package (buildroot/package/gatewayd/gatewayd.mk) points it at its own toolchain:
#
#   GATEWAYD_SWIFT_TOOLCHAIN  Swift toolchain root, swiftc is bin/swiftc or usr/bin/swiftc
#                             (default /opt/swift)
#   GATEWAYD_SWIFT_TARGET     Embedded Swift target triple (default per ARCH, see arch_defaults)
#   GATEWAYD_CC               target C compiler, compiles the C shims and links
#   GATEWAYD_STRIP            target strip
#   GATEWAYD_SYSROOT          target sysroot: libc and libpcap headers and libraries
#   GATEWAYD_TLS              1: with SIP over TLS, built against the target's OpenSSL 3 and
#                             loading libssl.so.3 when a TLS port is configured; 0 (default):
#                             without, no OpenSSL
#                             needed, and a config with tls_port is refused at start
#   GATEWAYD_OUT              output directory (default .build-firmware/<arch>, <arch>-tls with TLS)
#   GATEWAYD_SWIFTFLAGS, GATEWAYD_CFLAGS, GATEWAYD_LDFLAGS   extra flags (word-split)
#   GATEWAYD_LIBS             libraries to link (default: -l for every `link "X"` line of the C
#                             modules' module maps, which Embedded Swift does not apply, and -lm)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ALL_ARCHS="x86_64 aarch64 armv7"
# Swift modules in dependency order; each is every *.swift under Sources/<module>. Package.swift
# declares the same modules; ModuleListTests checks that the two agree.
MODULES="Basics SIP Capture LoadMeter GatewayCore gatewayd"

die() { echo "firmware.sh: $*" >&2; exit 1; }

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

# --- per-architecture defaults ----------------------------------------------------------------

# arch_defaults ARCH: sets DEF_TARGET DEF_CROSS DEB_ARCH ARCH_SWIFTFLAGS ARCH_CFLAGS
arch_defaults() {
    ARCH_SWIFTFLAGS=()
    ARCH_CFLAGS=()
    case "$1" in
        x86_64)
            DEF_TARGET=x86_64-unknown-linux-gnu DEF_CROSS="" DEB_ARCH=amd64 ;;
        aarch64)
            DEF_TARGET=aarch64-none-none-elf DEF_CROSS=aarch64-linux-gnu- DEB_ARCH=arm64 ;;
        armv7)
            # The armv7 Embedded stdlib is built for armv7-none-none-eabi, whose default float
            # ABI is soft; Linux armhf passes floats in VFP registers (readelf -A:
            # Tag_ABI_VFP_args: VFP registers). VFPv3-D16 is Debian armhf's baseline.
            DEF_TARGET=armv7-none-none-eabi DEF_CROSS=arm-linux-gnueabihf- DEB_ARCH=armhf
            ARCH_SWIFTFLAGS=(-Xcc -march=armv7-a -Xcc -mfloat-abi=hard -Xcc -mfpu=vfpv3-d16)
            ARCH_CFLAGS=(-march=armv7-a -mfloat-abi=hard -mfpu=vfpv3-d16) ;;
        riscv64)
            die "riscv64 is not built: Debian 12 has a riscv64 cross compiler but no riscv64 libpcap (riscv64 is not a release architecture of Debian 12)" ;;
        *)
            die "unknown ARCH '$1' (x86_64, aarch64, armv7 or all)" ;;
    esac
}

# --- libraries --------------------------------------------------------------------------------

# Names of the libraries the C modules' module maps link (`link "pcap"` -> pcap).
link_names() {
    cat "$ROOT"/Sources/C*/module.modulemap "$ROOT"/Sources/C*/include/module.modulemap 2>/dev/null \
        | sed -n 's/^[[:space:]]*link[[:space:]]*"\([^"]*\)".*/\1/p' | LC_ALL=C sort -u
}

# Libraries a C module loads at run time instead of linking (Sources/CTLS: OpenSSL's libssl,
# for TLS=1 builds): the sysroot holds their headers, and their shared objects for qemu.
LOADED_LIBS="ssl"

# deb_packages LIB: the Debian development package and run-time package of library LIB.
deb_packages() {
    case "$1" in
        pcap) echo "libpcap0.8-dev libpcap0.8" ;;
        inih) echo "libinih-dev libinih1" ;;
        ssl) echo "libssl-dev libssl3" ;;
        c|m|crypto) ;;  # libcrypto comes with libssl's packages
        *) die "no Debian package known for library '$1' (a module map's link line): add it to deb_packages in scripts/firmware.sh" ;;
    esac
}

# --- dependencies -----------------------------------------------------------------------------

# Runtime closure of PACKAGES for DEBARCH (Depends and Pre-Depends, first alternative).
runtime_closure() {
    local debarch=$1; shift
    local -A seen=()
    local queue=("$@") pkg dep
    while [ ${#queue[@]} -gt 0 ]; do
        pkg=${queue[0]}; queue=("${queue[@]:1}")
        [ -n "${seen[$pkg]:-}" ] && continue
        seen[$pkg]=1
        echo "$pkg"
        # "  |Depends: a" starts a group of alternatives whose other members follow as
        # "  Depends: b" lines: only the first of a group is taken.
        while read -r dep; do
            queue+=("${dep%%:*}")
        done < <(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
                    --no-replaces --no-enhances "$pkg:$debarch" \
                 | awk '/^  \|(Pre)?Depends:/ { if (!skip) print $2; skip = 1; next }
                        /^  (Pre)?Depends:/ { if (!skip) print $2; skip = 0; next }' \
                 | grep -v '^<')
    done
}

make_sysroot() {
    local arch=$1 debarch=$2 dest=$3
    local work pkgs dev=(libc6-dev linux-libc-dev) run=(libc6) lib pair names
    for lib in $(link_names) $LOADED_LIBS; do
        names=$(deb_packages "$lib")  # exits here on an unknown library
        read -ra pair <<< "$names"
        [ ${#pair[@]} -eq 2 ] || continue
        dev+=("${pair[0]}"); run+=("${pair[1]}")
    done
    work=$(mktemp -d /tmp/gatewayd-sysroot.XXXXXX)
    # Headers and link-time files (not followed further: their tools are not needed), plus
    # everything the libraries and libc need at run time, so the tree links and runs under qemu.
    pkgs="${dev[*]} $(runtime_closure "$debarch" "${run[@]}" | sort -u | tr '\n' ' ')"
    echo "== sysroot $arch ($debarch): $pkgs"
    # shellcheck disable=SC2046
    (cd "$work" && apt-get -q -o APT::Sandbox::User=root download $(for p in $pkgs; do echo "$p:$debarch"; done) >/dev/null) \
        || { rm -rf "$work"; die "apt-get download failed for $debarch (is the architecture added? run --install-deps)"; }
    rm -rf "$dest.new"
    mkdir -p "$dest.new"
    for deb in "$work"/*.deb; do
        dpkg -x "$deb" "$dest.new"
        dpkg-deb -f "$deb" Package Version | awk '{ printf "%s%s", $2, (NR == 1 ? " " : "\n") }' >> "$dest.new/PACKAGES"
    done
    rm -rf "$work" "$dest"
    mv "$dest.new" "$dest"
    echo "   $dest"
}

install_deps() {
    [ "$(id -u)" -eq 0 ] || die "--install-deps must run as root"
    local archs
    archs=$(dpkg --print-foreign-architectures)
    echo "$archs" | grep -qx arm64 || dpkg --add-architecture arm64
    echo "$archs" | grep -qx armhf || dpkg --add-architecture armhf
    # A mirror caught mid-sync fails one index now and then; what is needed is usually there.
    apt-get update -q || echo "firmware.sh: apt-get update reported errors; going on" >&2
    local hostdev=() lib pair names
    for lib in $(link_names) $LOADED_LIBS; do
        names=$(deb_packages "$lib")  # exits here on an unknown library
        read -ra pair <<< "$names"
        [ ${#pair[@]} -eq 2 ] && hostdev+=("${pair[0]}")
    done
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        make file time rsync binutils gcc libc6-dev libpcap-dev "${hostdev[@]}" \
        gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu \
        gcc-arm-linux-gnueabihf binutils-arm-linux-gnueabihf \
        qemu-user-static
    local arch
    for arch in $ALL_ARCHS; do
        arch_defaults "$arch"
        [ "$arch" = x86_64 ] && continue  # the host's own libc6-dev and libpcap-dev
        make_sysroot "$arch" "$DEB_ARCH" "$ROOT/.build-firmware/sysroot/$arch"
    done
}

# --- build ------------------------------------------------------------------------------------

build_arch() {
    local arch=$1
    arch_defaults "$arch"
    local toolchain=${GATEWAYD_SWIFT_TOOLCHAIN:-/opt/swift}
    local swiftc
    for swiftc in "$toolchain/usr/bin/swiftc" "$toolchain/bin/swiftc" ""; do
        [ -x "$swiftc" ] && break
    done
    [ -n "$swiftc" ] || die "no swiftc under $toolchain (set GATEWAYD_SWIFT_TOOLCHAIN)"
    local target=${GATEWAYD_SWIFT_TARGET:-$DEF_TARGET}
    local cc=${GATEWAYD_CC:-${DEF_CROSS}gcc}
    local strip=${GATEWAYD_STRIP:-${DEF_CROSS}strip}
    local sysroot=${GATEWAYD_SYSROOT:-}
    if [ -z "$sysroot" ]; then
        if [ "$arch" = x86_64 ]; then sysroot=/; else sysroot=$ROOT/.build-firmware/sysroot/$arch; fi
    fi
    local tls=${GATEWAYD_TLS:-0}
    [ "$tls" = 0 ] || [ "$tls" = 1 ] || die "GATEWAYD_TLS must be 0 or 1, not '$tls'"
    local out=${GATEWAYD_OUT:-$ROOT/.build-firmware/$arch$([ "$tls" = 1 ] && echo -tls)}
    command -v "${cc%% *}" >/dev/null || die "no C compiler '$cc' (run: make deps)"
    [ -d "$sysroot" ] || die "no sysroot $sysroot (run: make deps, or set GATEWAYD_SYSROOT)"

    # Header directories of the sysroot: a Debian tree keeps the arch-specific ones under
    # usr/include/<multiarch>, Buildroot's staging dir has usr/include alone, Debian's
    # /usr/<triplet> cross trees have include/.
    local multiarch incdirs=() d
    multiarch=$($cc -print-multiarch 2>/dev/null || true)
    for d in ${multiarch:+"$sysroot/usr/include/$multiarch"} "$sysroot/usr/include" "$sysroot/include"; do
        [ -d "$d" ] && incdirs+=("$d")
    done
    [ -f "$sysroot/usr/include/pcap/pcap.h" ] || [ -f "$sysroot/include/pcap/pcap.h" ] \
        || die "no pcap/pcap.h in $sysroot (libpcap for the target is missing)"
    if [ "$tls" = 1 ]; then
        [ -f "$sysroot/usr/include/openssl/ssl.h" ] || [ -f "$sysroot/include/openssl/ssl.h" ] \
            || die "no openssl/ssl.h in $sysroot (TLS=1 needs the target's OpenSSL 3: run make deps again)"
    fi
    local libs=() lib
    if [ -n "${GATEWAYD_LIBS:-}" ]; then
        read -ra libs <<< "$GATEWAYD_LIBS"
    else
        for lib in $(link_names) m; do
            [[ " ${libs[*]} " == *" -l$lib "* ]] && continue
            # libinih is a few kilobytes: linked in statically, the gateway needs one shared
            # library less (and keeps its pages out of the daemon's resident set).
            if [ "$lib" = inih ] && [ -n "$(find "$sysroot/lib" "$sysroot/usr/lib" -maxdepth 2 -name libinih.a -print -quit 2>/dev/null)" ]; then
                libs+=("-l:libinih.a")
                continue
            fi
            libs+=("-l$lib")
            # A multiarch Debian tree, Buildroot's staging dir or the host.
            [ "$sysroot" = / ] || [ "$lib" = m ] || [ -n "$(find "$sysroot/lib" "$sysroot/usr/lib" \
                -maxdepth 2 \( -name "lib$lib.so" -o -name "lib$lib.a" \) -print -quit 2>/dev/null)" ] \
                || die "no lib$lib in $sysroot (a module map links it): run make deps again, or add it to the target"
        done
    fi

    # The C side as the Swift compiler's clang sees it. Linux triples know the sysroot's
    # layout; for the *-none-* triples (the only ones with an Embedded stdlib for arm and
    # aarch64) the system headers are given explicitly and the OS macros glibc expects set.
    local cflags_swift=() tlsflags=()
    [ "$tls" = 1 ] || tlsflags=(-DGATEWAYD_NO_TLS)
    case "$target" in
        *-linux-*)
            [ "$sysroot" = / ] || cflags_swift+=(-Xcc "--sysroot=$sysroot") ;;
        *)
            cflags_swift+=(-Xcc "--sysroot=$sysroot" -Xcc -D__linux__ -Xcc -D__linux -Xcc -Dlinux
                           -Xcc -D__unix__ -Xcc -D__unix -Xcc -Dunix -Xcc -D__gnu_linux__)
            for d in "${incdirs[@]}"; do cflags_swift+=(-Xcc -idirafter -Xcc "$d"); done ;;
    esac

    # Preprocessor options of GATEWAYD_CFLAGS (Buildroot's _FILE_OFFSET_BITS, _TIME_BITS) go to
    # the Swift side too, so Swift sees libc's and libpcap's structures as the C side does.
    local f
    for f in ${GATEWAYD_CFLAGS:-}; do
        case "$f" in -D*|-U*) cflags_swift+=(-Xcc "$f") ;; esac
    done

    local modmaps=() m
    for m in "$ROOT"/Sources/C*/module.modulemap "$ROOT"/Sources/C*/include/module.modulemap; do
        [ -f "$m" ] && modmaps+=(-I "$(dirname "$m")")
    done

    # Every Swift module under Sources/ must be in MODULES, so a new one is not left out.
    for d in "$ROOT"/Sources/*/; do
        m=$(basename "$d")
        if [ -n "$(find "$d" -name '*.swift' -print -quit)" ] && ! [[ " $MODULES " == *" $m "* ]]; then
            die "Sources/$m is a Swift module that scripts/firmware.sh does not know: add it to MODULES"
        fi
    done

    local obj=$out/obj
    rm -rf "$obj"
    mkdir -p "$obj"
    local started=$SECONDS
    echo "== gatewayd $arch$([ "$tls" = 1 ] && echo ' with TLS'): swift $target, cc $cc, sysroot $sysroot"

    local sources
    for m in $MODULES; do
        mapfile -t sources < <(find "$ROOT/Sources/$m" -name '*.swift' | LC_ALL=C sort)
        [ ${#sources[@]} -gt 0 ] || die "no Swift files in Sources/$m"
        # shellcheck disable=SC2086
        "$swiftc" -target "$target" -enable-experimental-feature Embedded -wmo -Osize \
            -parse-as-library -enforce-exclusivity=unchecked -Xfrontend -function-sections \
            -module-name "$m" -emit-module -emit-module-path "$obj/$m.swiftmodule" \
            -c -o "$obj/$m.o" -I "$obj" "${modmaps[@]}" \
            "${ARCH_SWIFTFLAGS[@]}" "${cflags_swift[@]}" ${GATEWAYD_SWIFTFLAGS:-} \
            "${sources[@]}"
    done

    local csrc cobjs=() n=0
    while IFS= read -r csrc; do
        n=$((n + 1))
        # shellcheck disable=SC2086
        $cc --sysroot="$sysroot" "${ARCH_CFLAGS[@]}" -Os -ffunction-sections -fdata-sections \
            -I "$(dirname "$csrc")/include" -I "$(dirname "$csrc")" "${tlsflags[@]}" ${GATEWAYD_CFLAGS:-} \
            -c -o "$obj/c$n-$(basename "${csrc%.c}").o" "$csrc"
        cobjs+=("$obj/c$n-$(basename "${csrc%.c}").o")
    done < <(find "$ROOT"/Sources/C* -name '*.c' | LC_ALL=C sort)

    # Libraries that libpcap needs (libdbus, ...) are resolved through -rpath-link in a
    # Debian sysroot; Buildroot's toolchain finds them in its staging dir by itself.
    local rpathlink=()
    for d in ${multiarch:+"$sysroot/lib/$multiarch" "$sysroot/usr/lib/$multiarch"} "$sysroot/lib" "$sysroot/usr/lib"; do
        [ -d "$d" ] && [ "$sysroot" != / ] && rpathlink+=("-Wl,-rpath-link,$d")
    done
    local swiftobjs=()
    for m in $MODULES; do swiftobjs+=("$obj/$m.o"); done
    # SwiftPM names the executable's entry point <module>_main and aliases main to it.
    # shellcheck disable=SC2086
    $cc --sysroot="$sysroot" "${ARCH_CFLAGS[@]}" -o "$obj/gatewayd.unstripped" \
        "${swiftobjs[@]}" "${cobjs[@]}" -Wl,--defsym=main=gatewayd_main -Wl,--gc-sections \
        -Wl,--as-needed "${rpathlink[@]}" ${GATEWAYD_LDFLAGS:-} "${libs[@]}"
    # Copy, then strip in place: Buildroot's TARGET_STRIP is /bin/true when stripping is off.
    cp "$obj/gatewayd.unstripped" "$out/gatewayd"
    $strip "$out/gatewayd"
    local size
    size=$(stat -c %s "$out/gatewayd")
    echo "   $out/gatewayd: $size bytes ($(( (size + 1023) / 1024 )) KiB) stripped, $((SECONDS - started)) s"
}

# --- main -------------------------------------------------------------------------------------

[ $# -gt 0 ] || { usage; exit 2; }
archs=()
for a in "$@"; do
    case "$a" in
        -h|--help) usage; exit 0 ;;
        --install-deps) install_deps ;;
        all) read -ra more <<< "$ALL_ARCHS"; archs+=("${more[@]}") ;;
        *) archs+=("$a") ;;
    esac
done
for a in "${archs[@]}"; do
    build_arch "$a"
done
