# Skiff: build, run and test the unikernel images. Every target is listed in README.md.

CARGO   ?= cargo
TARGET  := x86_64-unknown-none
PROFILE ?= release
APP     ?= hello
# Crates tested and linted on the host (pure no_std libraries).
HOST_CRATES := -p skiff-kernel-hosttest -p skiff-xen -p skiff-ring -p skiff-xenstore -p skiff-cmdline -p skiff-pvcalls -p skiff-net -p skiff-linux
# Crates built only for the kernel target.
KERNEL_CRATES := -p skiff-kernel -p skiff
# Images: the examples a user copies, the in-guest test programs the rig boots, and `linux`
# (src/bin/linux.rs), which runs a static Linux binary given as xl's ramdisk=.
EXAMPLES := $(basename $(notdir $(wildcard examples/*.rs tests/guests/*.rs)))
BINS     := linux
IMAGES   := $(EXAMPLES:%=target/images/%.elf) $(BINS:%=target/images/%.elf)
PROFILE_FLAG := $(if $(filter release,$(PROFILE)),--release,)
# cargo puts the dev profile's output in target/<triple>/debug.
PROFILE_DIR := $(if $(filter dev,$(PROFILE)),debug,$(PROFILE))
OUT := target/$(TARGET)/$(PROFILE_DIR)/examples
# `make run BIN=path [ARGS="..."]` and `make image BIN=path [NAME=name]`: a Linux binary.
BIN  ?=
ARGS ?=
NAME ?= $(notdir $(BIN))

# One Xen-in-QEMU rig at a time: test-xen and test-run must not overlap under -j.
.NOTPARALLEL:

.PHONY: all toolchain build images image apps test-embedded-image run test test-host test-fuzz test-images test-xen test-run test-xen-all fuzz soak miri bench bench-host check fmt clippy doc module-graph clean

all: build

## toolchain: install what rust-toolchain.toml names, if anything is missing (tests/toolchain.sh)
toolchain:
	@tests/toolchain.sh

## build: compile the kernel, libraries, every example and the linux image for the kernel target
build: toolchain
	$(CARGO) build --locked --target $(TARGET) $(PROFILE_FLAG) $(KERNEL_CRATES) --examples --bins

## images: every example, and linux, as a PVH image in target/images/<name>.elf
images: build
	@mkdir -p target/images
	@for e in $(EXAMPLES); do cp $(OUT)/$$e target/images/$$e.elf; done
	@for b in $(BINS); do cp target/$(TARGET)/$(PROFILE_DIR)/$$b target/images/$$b.elf; done
	@ls -l $(IMAGES)

## image: BIN=path [NAME=name]: one self-contained image, the linux image with the static Linux
##        binary BIN embedded -> target/images/NAME.elf (NAME: BIN's file name); boot it without ramdisk=
image: toolchain
	@[ -n "$(BIN)" ] || { echo "make image: give BIN=path/to/a/static/x86_64/linux/binary"; exit 2; }
	@[ -f "$(BIN)" ] || { echo "make image: BIN=$(BIN): no such file"; exit 2; }
	@case " $(EXAMPLES) $(BINS) " in *" $(NAME) "*) \
		echo "make image: target/images/$(NAME).elf is a Skiff image; choose another NAME="; exit 2;; esac
	SKIFF_EMBED="$(abspath $(BIN))" CARGO_TARGET_DIR=target/embed $(CARGO) build --locked \
		--target $(TARGET) $(PROFILE_FLAG) -p skiff --bin linux
	@mkdir -p target/images
	cp target/embed/$(TARGET)/$(PROFILE_DIR)/linux target/images/$(NAME).elf
	@echo "make image: target/images/$(NAME).elf runs $(BIN); boot it with xl-configs/linux.cfg and kernel=, without ramdisk="

## apps: the Linux programs Skiff runs unmodified (tests/apps), static x86_64 ELFs in target/apps/<name>
apps:
	@tests/apps/build.sh

# Host ports `make run` forwards to dom0 in the QEMU rig, per example.
RUN_FORWARD_httpd := --forward 8080:8080
RUN_FORWARD_echo  := --forward 7007:7

# With BIN=path: the linux image runs that binary (ramdisk=) with argv[0] its name and ARGS.
RUN_APP   = $(if $(BIN),linux,$(APP))
RUN_EXTRA = 'extra="-- $(notdir $(BIN)) $(ARGS)"'
RUN_DOM0  = $(if $(BIN),'ramdisk="$(abspath $(BIN))"' $(RUN_EXTRA))
RUN_RIG   = $(if $(BIN),--ship $(BIN) --xl 'ramdisk="run/$(notdir $(BIN))"' --xl $(RUN_EXTRA))

## run: boot APP (default hello) under Xen: xl create in a Xen dom0, else the Xen-in-QEMU rig;
##      with BIN=path [ARGS="..."], the static Linux binary BIN on the linux image instead
run: images
	@if [ -n "$(BIN)" ] && [ ! -f "$(BIN)" ]; then echo "make run: BIN=$(BIN): no such file"; exit 2; fi
	@if [ -r /proc/xen/capabilities ] && grep -q control_d /proc/xen/capabilities; then \
		echo "make run: in a Xen dom0; xl create -c xl-configs/$(RUN_APP).cfg $(RUN_DOM0)"; \
		xl create -c xl-configs/$(RUN_APP).cfg $(RUN_DOM0); \
	else \
		echo "make run: not in a Xen dom0; booting Xen in QEMU (tests/rig/run.sh --run $(RUN_APP))"; \
		tests/rig/run.sh $(RIG_FLAGS) $(RUN_FORWARD_$(APP)) $(RUN_RIG) --run $(RUN_APP); \
	fi

# Rig cases `make test` runs: every case in tests/xen/ but the platform
# check cpucheck (`make test-xen CASES=cpucheck`, or `make test-xen-all`).
CASES ?= hello shutdown crash selftest httpd client nettest detach peergone echo resets linux linuxnet

## test: host unit tests, each fuzz target briefly, the images' PVH entry notes, the images under
##       real Xen in the rig, and `make run APP=httpd` reached with curl from this machine
test: test-host test-fuzz test-images test-xen test-run

## test-host: every host test (cargo test at the root covers the same crates: default-members)
test-host: toolchain
	$(CARGO) test --locked $(HOST_CRATES) --all-features

# Seconds `make fuzz` gives each fuzz target.
FUZZ_SECONDS ?= 300

## test-fuzz: every fuzz target (tests/fuzz) for 20 s; fails on any finding (tests/fuzz.sh)
test-fuzz:
	tests/fuzz.sh 20

## fuzz: every fuzz target for FUZZ_SECONDS (default 300) each, corpus kept in .cache/fuzz
fuzz:
	tests/fuzz.sh $(FUZZ_SECONDS)

## test-images: every image has Xen's PHYS32_ENTRY note pointing at the PVH entry (readelf, nm)
test-images: images
	tests/images.sh

# QEMU's accelerator for the rig cases of `make test`: one TCG thread. With a thread per vCPU the
# emulated SVM now and then loses a guest's state (docs/known-problems.md); one thread ran the soak's
# 100,000 cycles without it, and runs these cases in about the same time (fewer retries).
TEST_ACCEL ?= tcg,thread=single

test-xen: images apps test-embedded-image
	RIG_ACCEL=$(TEST_ACCEL) tests/rig/run.sh $(RIG_FLAGS) $(CASES)

# The image with a program embedded that the rig case `linux` boots without ramdisk=.
test-embedded-image: apps
	@$(MAKE) --no-print-directory image BIN=target/apps/nosys NAME=nosys-embedded

## test-run: `make run APP=httpd`, then curl on 127.0.0.1:8080 (tests/run-httpd.sh)
test-run: images
	tests/run-httpd.sh

# Every rig case but the soak (make soak).
ALL_CASES = $(filter-out soak,$(basename $(notdir $(wildcard tests/xen/*.sh))))

test-xen-all: images apps test-embedded-image
	RIG_ACCEL=$(TEST_ACCEL) tests/rig/run.sh $(RIG_FLAGS) $(ALL_CASES)

# Connect-echo-close cycles `make soak` runs against echo.
SOAK_CYCLES ?= 100000
# QEMU's accelerator for the soak: one TCG thread. With a thread per vCPU, the emulated SVM lost the
# echo guest's state within 2,000-12,000 cycles in each of 3 attempts (docs/known-problems.md).
SOAK_ACCEL ?= tcg,thread=single

## soak: SOAK_CYCLES (100000) connect-echo-close cycles against echo under real Xen, then every
##       count back to baseline (tests/xen/soak.sh); about 15 minutes under emulation
soak: images
	RIG_ACCEL=$(SOAK_ACCEL) RIG_CASE_TIMEOUT=7200 SOAK_CYCLES=$(SOAK_CYCLES) \
		tests/rig/run.sh $(RIG_FLAGS) --timeout 7500 soak

## miri: the pure crates' unit tests under Miri on the pinned nightly (tests/miri.sh)
miri:
	tests/miri.sh

## bench: boot time, throughput against dom0 baselines from the same boot, image sizes
##        -> bench/results/<date>-<host>.md (tests/bench/run.sh)
bench: images
	tests/bench/run.sh

## bench-host: the frontend's send/receive paths and ping-pong through the socket API against the
##             simulated dom0, with loopback TCP, memcpy and an SPSC ring measured in the same run
##             -> bench/results/host-<date>-<host>.md (tests/bench/host.sh, criterion)
bench-host: toolchain
	tests/bench/host.sh

## check: formatting, clippy -D warnings (host and kernel target, fuzz harnesses), docs, the kernel's module graph
check: fmt clippy doc module-graph

fmt: toolchain
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path tests/fuzz/Cargo.toml -- --check

clippy: toolchain
	$(CARGO) clippy --locked $(HOST_CRATES) --all-features --all-targets -- -D warnings
	$(CARGO) clippy --locked --target $(TARGET) $(KERNEL_CRATES) --examples -- -D warnings
	$(CARGO) clippy --locked --target $(TARGET) $(HOST_CRATES) --no-default-features -- -D warnings
	$(CARGO) clippy --locked -p skiff-hostbench --all-targets -- -D warnings
	$(CARGO) clippy --manifest-path tests/fuzz/Cargo.toml --all-targets -- -D warnings

doc: toolchain
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --locked --no-deps $(HOST_CRATES) --all-features
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --locked --no-deps --target $(TARGET) $(KERNEL_CRATES)

## module-graph: no cycle among kernel/src's modules; hypercall numbers only in the table (xen/abi.rs)
module-graph:
	python3 tests/module_graph.py

clean:
	$(CARGO) clean
