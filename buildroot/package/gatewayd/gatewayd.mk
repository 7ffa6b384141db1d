################################################################################
#
# gatewayd
#
################################################################################

# The package is the repository this tree lives in (buildroot/ is one of its
# directories), built as it is checked out.
GATEWAYD_VERSION = custom
GATEWAYD_SITE = $(BR2_EXTERNAL_GATEWAYD_PATH)/..
GATEWAYD_SITE_METHOD = local
# No license has been chosen for gatewayd yet: update this (and add
# GATEWAYD_LICENSE_FILES) when one is.
GATEWAYD_LICENSE = PROPRIETARY
# inih: the configuration file parser (Sources/CInih) of the daemon mode.
GATEWAYD_DEPENDENCIES = libpcap inih
# SIP over TLS: OpenSSL 3 (Sources/CTLS), built against and loaded at run time
# (libssl.so.3) only when chosen.
ifeq ($(BR2_PACKAGE_GATEWAYD_TLS),y)
GATEWAYD_DEPENDENCIES += openssl
GATEWAYD_TLS = 1
else
GATEWAYD_TLS = 0
endif
# Host build trees of the Swift package are large and of no use here.
GATEWAYD_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude .build --exclude '.build-*' --exclude '.build_*' \
	--exclude fuzz-out

GATEWAYD_SWIFT_TOOLCHAIN = $(call qstrip,$(BR2_PACKAGE_GATEWAYD_SWIFT_TOOLCHAIN))

# Embedded Swift targets: the *-none-* triples are the ones the toolchain has an
# Embedded standard library for; scripts/firmware.sh adds what Linux needs.
ifeq ($(BR2_aarch64),y)
GATEWAYD_ARCH = aarch64
GATEWAYD_SWIFT_TARGET = aarch64-none-none-elf
else ifeq ($(BR2_arm),y)
GATEWAYD_ARCH = armv7
GATEWAYD_SWIFT_TARGET = armv7-none-none-eabi
else ifeq ($(BR2_x86_64),y)
GATEWAYD_ARCH = x86_64
GATEWAYD_SWIFT_TARGET = x86_64-unknown-linux-gnu
endif

# Swift modules are compiled by the host toolchain for the target, the C shims
# and the link by Buildroot's cross compiler, against the staging libc and
# libpcap. TARGET_CFLAGS' -D options (_FILE_OFFSET_BITS, _TIME_BITS) are passed
# to the Swift side as well, so both see the C structures as libpcap does.
define GATEWAYD_BUILD_CMDS
	GATEWAYD_SWIFT_TOOLCHAIN="$(GATEWAYD_SWIFT_TOOLCHAIN)" \
	GATEWAYD_SWIFT_TARGET="$(GATEWAYD_SWIFT_TARGET)" \
	GATEWAYD_CC="$(TARGET_CC)" \
	GATEWAYD_STRIP="$(TARGET_STRIP)" \
	GATEWAYD_SYSROOT="$(STAGING_DIR)" \
	GATEWAYD_CFLAGS="$(TARGET_CFLAGS)" \
	GATEWAYD_LDFLAGS="$(TARGET_LDFLAGS)" \
	GATEWAYD_TLS=$(GATEWAYD_TLS) \
	GATEWAYD_OUT="$(@D)/.build-firmware/buildroot" \
		bash $(@D)/scripts/firmware.sh $(GATEWAYD_ARCH)
endef

# The executable, the commented default configuration and the man pages.
define GATEWAYD_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0755 $(@D)/.build-firmware/buildroot/gatewayd \
		$(TARGET_DIR)/usr/sbin/gatewayd
	$(INSTALL) -D -m 0644 $(@D)/docs/gatewayd.conf \
		$(TARGET_DIR)/etc/gatewayd.conf
	$(INSTALL) -D -m 0644 $(@D)/docs/man/gatewayd.8 \
		$(TARGET_DIR)/usr/share/man/man8/gatewayd.8
	$(INSTALL) -D -m 0644 $(@D)/docs/man/gatewayd.conf.5 \
		$(TARGET_DIR)/usr/share/man/man5/gatewayd.conf.5
endef

define GATEWAYD_USERS
	gatewayd -1 gatewayd -1 * - - - gatewayd daemon
endef

# CAP_NET_RAW lets the daemon, once it runs as the gatewayd user, reopen a
# capture after an interface comes back.
define GATEWAYD_PERMISSIONS
	/usr/sbin/gatewayd f 755 0 0 - - - - -
	|xattr cap_net_raw+ep
endef

define GATEWAYD_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(GATEWAYD_PKGDIR)/S60gatewayd \
		$(TARGET_DIR)/etc/init.d/S60gatewayd
endef

define GATEWAYD_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(GATEWAYD_PKGDIR)/gatewayd.service \
		$(TARGET_DIR)/usr/lib/systemd/system/gatewayd.service
endef

$(eval $(generic-package))
