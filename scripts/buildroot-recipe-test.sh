#!/usr/bin/env bash
# Runs the Buildroot recipe of buildroot/package/gatewayd/gatewayd.mk outside Buildroot, with
# Debian's aarch64 cross toolchain standing in for Buildroot's:
#
#   scripts/buildroot-recipe-test.sh
#
# A small makefile defines the variables Buildroot would (TARGET_CC, TARGET_STRIP, STAGING_DIR,
# TARGET_DIR, BR2_aarch64, BR2_PACKAGE_GATEWAYD_SWIFT_TOOLCHAIN, ...), stubs generic-package so
# that `$(eval $(generic-package))` does nothing, includes gatewayd.mk, then
#   - copies the source tree the way Buildroot's local site method does (rsync with
#     GATEWAYD_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS), into a directory that plays $(@D);
#   - runs $(GATEWAYD_BUILD_CMDS) there, then $(GATEWAYD_INSTALL_TARGET_CMDS),
#     $(GATEWAYD_INSTALL_INIT_SYSV) and $(GATEWAYD_INSTALL_INIT_SYSTEMD) into a scratch TARGET_DIR;
# and checks that TARGET_DIR/usr/sbin/gatewayd is an aarch64 executable that runs under qemu.
# Needs `make deps` (cross compiler, qemu-user-static and the aarch64 sysroot) first.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SYSROOT=${GATEWAYD_SYSROOT:-$ROOT/.build-firmware/sysroot/aarch64}
TOOLCHAIN=${GATEWAYD_SWIFT_TOOLCHAIN:-/opt/swift}
[ -d "$SYSROOT" ] || { echo "no aarch64 sysroot at $SYSROOT: run make deps" >&2; exit 1; }

WORK=$(mktemp -d /tmp/gatewayd-br-recipe.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
BUILD_DIR=$WORK/build/gatewayd-custom   # what Buildroot calls $(@D)
TARGET_DIR=$WORK/target
mkdir -p "$BUILD_DIR" "$TARGET_DIR"

cat >"$WORK/Makefile" <<EOF
# What Buildroot defines before it includes a package's .mk.
BR2_EXTERNAL_GATEWAYD_PATH := $ROOT/buildroot
BR2_aarch64 := y
BR2_PACKAGE_GATEWAYD := y
BR2_PACKAGE_GATEWAYD_SWIFT_TOOLCHAIN := "$TOOLCHAIN"
TARGET_CC := aarch64-linux-gnu-gcc
TARGET_STRIP := aarch64-linux-gnu-strip
TARGET_CFLAGS := -D_LARGEFILE_SOURCE -D_LARGEFILE64_SOURCE -D_FILE_OFFSET_BITS=64 -O2 -g0
TARGET_LDFLAGS :=
STAGING_DIR := $SYSROOT
TARGET_DIR := $TARGET_DIR
INSTALL := /usr/bin/install
GATEWAYD_PKGDIR := $ROOT/buildroot/package/gatewayd/
empty :=
quote := "
qstrip = \$(strip \$(subst \$(quote),\$(empty),\$(1)))
# \$(eval \$(generic-package)) is Buildroot's; here it does nothing.
generic-package :=

include \$(BR2_EXTERNAL_GATEWAYD_PATH)/package/gatewayd/gatewayd.mk

.PHONY: all $BUILD_DIR/.rsync $BUILD_DIR/.build $BUILD_DIR/.install
all: $BUILD_DIR/.install

# Buildroot's local site method (package/pkg-generic.mk, .stamp_rsynced).
$BUILD_DIR/.rsync:
	rsync -au --chmod=u=rwX,go=rX \$(GATEWAYD_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS) --exclude .git \\
		\$(GATEWAYD_SITE)/ \$(@D)

# In these recipes \$(@D) is $BUILD_DIR, as in Buildroot's.
$BUILD_DIR/.build: $BUILD_DIR/.rsync
	\$(GATEWAYD_BUILD_CMDS)

$BUILD_DIR/.install: $BUILD_DIR/.build
	\$(GATEWAYD_INSTALL_TARGET_CMDS)
	\$(GATEWAYD_INSTALL_INIT_SYSV)
	\$(GATEWAYD_INSTALL_INIT_SYSTEMD)
	@echo "GATEWAYD_ARCH=\$(GATEWAYD_ARCH) GATEWAYD_SWIFT_TARGET=\$(GATEWAYD_SWIFT_TARGET) GATEWAYD_DEPENDENCIES=\$(GATEWAYD_DEPENDENCIES)"
EOF

echo "== make -f $WORK/Makefile (gatewayd.mk's BUILD_CMDS and install commands)"
make --no-print-directory -f "$WORK/Makefile"

bin=$TARGET_DIR/usr/sbin/gatewayd
echo "== checks"
status=0
if [ ! -f "$bin" ]; then
    echo "FAIL: $bin was not installed"
    exit 1
fi
file "$bin"
machine=$(readelf -h "$bin" | sed -n 's/^ *Machine: *//p')
if [ "$machine" = AArch64 ]; then echo "ok: ELF machine $machine"; else echo "FAIL: ELF machine $machine"; status=1; fi
for f in etc/init.d/S60gatewayd usr/lib/systemd/system/gatewayd.service; do
    if [ -f "$TARGET_DIR/$f" ]; then echo "ok: $f installed"; else echo "FAIL: $f missing"; status=1; fi
done
if [ -x "$TARGET_DIR/etc/init.d/S60gatewayd" ]; then echo "ok: S60gatewayd executable"; else echo "FAIL: S60gatewayd not executable"; status=1; fi
if version=$(qemu-aarch64-static -L "$SYSROOT" "$bin" --version); then
    echo "ok: qemu-aarch64-static: $version"
else
    echo "FAIL: $bin --version under qemu"; status=1
fi
echo "   size: $(stat -c %s "$bin") bytes"
exit "$status"
