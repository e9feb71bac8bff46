# cairn's build. `make demo` and `make test` are the two commands a fresh machine needs:
# both install what they lack (Debian packages through apt-get, crates through cargo).

CARGO      ?= cargo
DESTDIR    ?=
PREFIX     ?= /usr
LIBDIR     := $(PREFIX)/lib/cairn
UNITS      ?= $(CURDIR)/integration/examples/units
SANDBOX_RUNTIME ?= /run/cairn-sandbox

BINARIES   := cairn-init cairn-supervisor cairn-spawner cairn-activator cairn-mounter cairn-devmon
# What the build and the test tiers need from Debian.
#   capnproto, libcapnp-dev: the schema compiler (drift test, `make proto`) and stream.capnp
#   util-linux: unshare, nsenter, setpriv for the sandbox tier
#   rsyslog: a real syslog daemon receiving services' lines (sandbox tier)
#   systemd: systemd-notify for notify services in the sandbox tier, /lib/systemd/system for
#     the loader test (Debian's base system has it; installed when missing)
#   dbus-daemon, dbus-bin, gpg-agent, gpgconf, busybox-static: real daemons started through
#     socket units (integration/tests/daemons.rs)
APT_TEST   := capnproto libcapnp-dev util-linux rsyslog systemd dbus-daemon dbus-bin gpg-agent \
              gpgconf busybox-static qemu-system-x86 linux-image-amd64 cpio e2fsprogs binutils
#   qemu-system-x86, linux-image-amd64, cpio: the VM tier and `make demo` (boot cairn from an
#     initramfs; e2fsprogs for the disks of the mount tests; binutils: strip, for the
#     debug binaries put in the test VM's initramfs)

.PHONY: all build release deps test lint unit proto install sandbox demo vm sandbox-demo bench fuzz fault-soak clean

all: build

build:
	$(CARGO) build --workspace

# The release build; cairn-init, the three helpers and the spawner also statically linked, not
# position-independent (no dynamic loader, no relocations at start: an exec of one costs
# 4.5 ms instead of 30 under the VM's TCG, docs/performance.md). The supervisor and cairnctl
# stay dynamic: they look users up through NSS. STATIC_DIR is where the static ones land;
# the VM images (demo, vm, bench) take them from there.
# cairn-init and the supervisor are linked with the functions they run first and together
# (CRATE/hot-functions.txt, written by integration/scripts/hot-functions and named without
# crate hashes; LINK_ORDER/BIN.order is that list in this build's symbols, link/order.rs):
# the kernel maps 64 KiB of a binary around each page fault, so this keeps their resident
# text to the pages they run (docs/performance.md §12). A changed order links them once more.
STATIC_TARGET = x86_64-unknown-linux-gnu
STATIC_DIR = $(CURDIR)/target/$(STATIC_TARGET)/release
STATIC_FLAGS = -C target-feature=+crt-static -C relocation-model=static
LINK_ORDER = $(CURDIR)/target/link-order
# Exported for every cargo run of the targets that use the release build: one without it
# would see the supervisor's build script's input change and build the supervisor again.
# (Not for the debug build: `make test` links as `cargo build` does.)
release install demo vm bench: export CAIRN_LINK_ORDER = $(LINK_ORDER)
RELEASE_BUILD = $(CARGO) build --workspace --release && \
	RUSTFLAGS="$(STATIC_FLAGS)" $(CARGO) build --release --target $(STATIC_TARGET) \
	    -p cairn-init -p cairn-activator -p cairn-mounter -p cairn-devmon && \
	RUSTFLAGS="$(STATIC_FLAGS)" $(CARGO) build --release --target $(STATIC_TARGET) \
	    -p cairn-supervisor --bin cairn-spawner
release:
	@mkdir -p $(LINK_ORDER)
	@touch -a $(LINK_ORDER)/cairn-init.order $(LINK_ORDER)/cairn-supervisor.order
	$(RELEASE_BUILD)
	@init=$$(integration/scripts/link-order $(STATIC_DIR)/cairn-init pid1/hot-functions.txt \
	    $(LINK_ORDER)/cairn-init.order) || exit 1; \
	supervisor=$$(integration/scripts/link-order target/release/cairn-supervisor \
	    supervisor/hot-functions.txt $(LINK_ORDER)/cairn-supervisor.order) || exit 1; \
	if [ -n "$$init$$supervisor" ]; then \
	    echo "linked again in the new order of:$$init$$supervisor"; $(RELEASE_BUILD); fi

# Installs the Debian packages in $(APT) that are missing (nothing when all are there).
deps:
	@missing=""; for p in $(APT_TEST); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Every tier this machine can run: pure logic and components (cargo's unit and
# integration tests), and the sandbox tier (integration/, as root).
# cargo-nextest when the machine has it (its summary is the closing line), else cargo test.
test: deps lint build
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
	    CAIRN_VM_TESTS=1 $(CARGO) nextest run --workspace --no-fail-fast --config-file integration/nextest.toml; \
	else \
	    CAIRN_VM_TESTS=1 $(CARGO) test --workspace --no-fail-fast; \
	fi

proto: deps
	$(CARGO) run -q -p cairn-proto --example gen_proto

install: release
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin
	for b in $(BINARIES); do \
	    if [ -x $(STATIC_DIR)/$$b ]; then src=$(STATIC_DIR)/$$b; else src=target/release/$$b; fi; \
	    install -m 0755 $$src $(DESTDIR)$(LIBDIR)/$$b; \
	done
	install -m 0755 target/release/cairnctl $(DESTDIR)$(PREFIX)/bin/cairnctl
	for c in poweroff reboot halt shutdown; do ln -sf ../bin/cairnctl $(DESTDIR)$(PREFIX)/sbin/$$c; done

# Try cairn by hand: cairn-init as PID 1 of a fresh PID + mount namespace on UNITS.
# In another terminal: CAIRN_SOCKET=$(SANDBOX_RUNTIME)/control target/debug/cairnctl component list
sandbox: deps build
	@mkdir -p $(UNITS)
	@cg=$$(integration/scripts/cgroup2-mount); \
	echo "cairn sandbox: units $(UNITS), control socket $(SANDBOX_RUNTIME)/control, cgroup $$cg/cairn-sandbox"; \
	echo "talk to it with: CAIRN_SOCKET=$(SANDBOX_RUNTIME)/control target/debug/cairnctl component list"; \
	unshare --pid --mount --fork --mount-proc target/debug/cairn-init \
	    --units $(UNITS) --runtime-dir $(SANDBOX_RUNTIME) --cgroup-root $$cg/cairn-sandbox; \
	find $$cg/cairn-sandbox -depth -type d -exec rmdir {} \; 2>/dev/null || true

# Boots a small system from an initramfs in a VM with cairn as /init and prints its console.
demo: deps release
	CAIRN_STATIC_DIR=$(STATIC_DIR) integration/vm/demo.sh

# The fault-injection suite (integration/tests/faults.rs) for as long as asked: ROUNDS rounds
# of every fault — each component SIGKILLed, each fail point made to abort — under load, the
# invariants checked after each; prints the table (component × fault × rounds × held).
ROUNDS ?= 20
fault-soak: deps build
	FAULT_ROUNDS=$(ROUNDS) FAULT_SERVICES=50 $(CARGO) test -p cairn-integration --test faults -- --nocapture

# The same system, an interactive console (ctrl-a x quits QEMU).
vm: deps release
	mkdir -p build && CAIRN_STATIC_DIR=$(STATIC_DIR) integration/vm/build-initramfs.sh build/demo.cpio.gz target/release
	qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot \
	    -kernel $$(ls /boot/vmlinuz-* | sort -V | tail -1) -initrd build/demo.cpio.gz \
	    -append "console=ttyS0 panic=-1 cairn.unit=demo-shell.target"

# cairn as PID 1 of a sandbox (a PID + mount namespace on this host): components killed and
# brought back.
sandbox-demo: deps build
	integration/scripts/demo.sh

bench: deps release
	CAIRN_BIN_DIR=$(CURDIR)/target/release CAIRN_STATIC_DIR=$(STATIC_DIR) \
	    $(CARGO) run -q --release -p cairn-integration --bin cairn-bench

# Every parser's fuzz target (CRATE/fuzz/fuzz_targets), FUZZ_SECONDS each; libFuzzer needs
# the nightly toolchain and cargo-fuzz, installed here when missing. A crash leaves its input
# under CRATE/fuzz/artifacts/TARGET/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = supervisor/unit_file supervisor/exec_line supervisor/unit_name \
	supervisor/specifiers supervisor/value_parsers supervisor/socket_section \
	supervisor/service_input supervisor/manager_config supervisor/state supervisor/control_request \
	supervisor/spawn_request supervisor/sysv_script \
	pid1/link_request pid1/carry \
	mounter/fstab \
	devmon/uevent
fuzz:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@cargo +nightly fuzz --version >/dev/null 2>&1 || cargo +nightly install cargo-fuzz --locked
	for t in $(FUZZ_TARGETS); do \
		(cd $$(dirname $$t) && mkdir -p fuzz/corpus/$$(basename $$t) && \
		 cargo +nightly fuzz run $$(basename $$t) fuzz/corpus/$$(basename $$t) \
		   fuzz/seeds/$$(basename $$t) -- \
			-max_total_time=$(FUZZ_SECONDS)) || exit 1; \
	done

clean:
	$(CARGO) clean
