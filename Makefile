# Firmware builds of gatewayd (Embedded Swift, cross-compiled for Linux gateways).
# The Swift package itself builds with `swift build` / `swift test`; see docs/firmware.md.
#
#   make deps                      Debian packages and target sysroots (as root, once)
#   make firmware ARCH=aarch64     .build-firmware/aarch64/gatewayd (ARCH: x86_64 aarch64 armv7)
#   make firmware TLS=1            with SIP over TLS (OpenSSL 3, shared): .build-firmware/aarch64-tls/
#   make firmware-all              all three
#   make firmware-check            run them (qemu for arm) against the host build on every capture
#   make buildroot-recipe-test     run buildroot/package/gatewayd/gatewayd.mk's recipe for aarch64

ARCH ?= aarch64
TLS ?= 0

.PHONY: deps firmware firmware-all firmware-check buildroot-recipe-test clean-firmware

deps:
	bash scripts/firmware.sh --install-deps

firmware:
	GATEWAYD_TLS=$(TLS) bash scripts/firmware.sh $(ARCH)

firmware-all:
	GATEWAYD_TLS=$(TLS) bash scripts/firmware.sh all

firmware-check:
	bash scripts/firmware-check.sh

buildroot-recipe-test:
	bash scripts/buildroot-recipe-test.sh

# Leaves the sysroots (made by `make deps`) in place.
clean-firmware:
	rm -rf .build-firmware/x86_64 .build-firmware/aarch64 .build-firmware/armv7
