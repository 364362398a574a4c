# saferring - top-level build.  Plain GNU make; everything lands in build/.
#
#   make            build daemon, library, examples and tests
#   make deps       install missing Debian build dependencies
#   make run        deps + build + saferringd in the foreground
#   make check      deps + build + every test
#   make check-asan the same under AddressSanitizer + UBSan
#   make check-tsan unit tests and the threaded daemon under ThreadSanitizer
#   make fuzz       the libFuzzer harnesses, FUZZ_SECONDS=N each (60)
#   make check-valgrind  the end-to-end tests with saferringd under valgrind
#   make abi-baseline    record libsaferring.so.1's ABI in abi/ (deliberately)
#   make cross ARCH=aarch64  everything `all` builds, for arm64, in build-aarch64/
#   make bench-backends  libsaferring's backends side by side (bench/results/backends.md)

VERSION      := 0.1.0
SO_MAJOR     := 1
SO_MINOR     := 0

B            ?= build
CC           ?= cc
OBJCOPY      ?= objcopy
CFLAGS       ?= -O2 -g
WARN         := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
                -Wmissing-prototypes -Wno-unused-parameter -Wswitch-enum \
                -Werror=switch-default
CPPFLAGS     += -D_GNU_SOURCE -Iinclude -Iproto -I$(B)/gen -Idaemon \
                -DSR_VERSION='"$(VERSION)"'
ALL_CFLAGS   = -std=gnu11 -fPIC $(WARN) $(CFLAGS) $(SAN)
LDFLAGS      += $(SAN)

# Debian's liburing.so does not export io_uring_register_restrictions or
# io_uring_enable_rings; the static archive does, so the daemon links it.
# The compiler's own multiarch directory: a cross build links the other
# architecture's archive (clang may not answer: gcc's is the same then).
URING_A      := $(firstword $(wildcard /usr/lib/$(shell $(CC) -print-multiarch 2>/dev/null || gcc -print-multiarch 2>/dev/null)/liburing.a /usr/lib/liburing.a))
DAEMON_LIBS  := $(if $(URING_A),$(URING_A),-luring) -lprotobuf-c -lseccomp -lsystemd
# libsaferring loads libseccomp itself when sr_sandbox_deny_io_uring() is
# called (client/sandbox.c): its users do not link it.
CLIENT_LIBS  := -lprotobuf-c
# liburing goes inside libsaferring (its archive is PIC): its names stay
# private (the version script, objcopy below), and a program that links
# its own liburing gets its own.
LIB_URING    := $(if $(URING_A),$(URING_A),-luring)

DEB_PACKAGES := gcc make pkg-config liburing-dev libseccomp-dev \
                libprotobuf-c-dev protobuf-c-compiler libcmocka-dev \
                libsystemd-dev strace abigail-tools libuv1-dev

PROTO_C      := $(B)/gen/saferring.pb-c.c
PROTO_H      := $(B)/gen/saferring.pb-c.h
COMMON_SRC   := $(PROTO_C) proto/wire.c proto/status.c proto/op_table.c \
                proto/batch.c proto/shm_ring.c proto/spin.c
DAEMON_MAIN  := daemon/main.c
DAEMON_SRC   := $(filter-out $(DAEMON_MAIN),$(wildcard daemon/*.c))
CLIENT_SRC   := $(wildcard client/*.c)
EXAMPLE_SRC  := $(wildcard examples/*.c)
TOOL_SRC     := $(wildcard tools/*.c)
UNIT_SRC     := $(wildcard tests/unit/test_*.c)
E2E_SRC      := $(wildcard tests/e2e/test_*.c)
TESTLIB_SRC  := $(wildcard tests/lib/*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(patsubst $(B)/%,%,$(1)))

COMMON_OBJ   := $(call obj,$(COMMON_SRC))
DAEMON_OBJ   := $(call obj,$(DAEMON_SRC))
# saferringd's session code, which libsaferring's in-process backends
# (client/local.c) serve with one of the daemon's workers: all of it but
# the listener, the configuration file and the daemon's own confinement.
LOCAL_SRC    := $(filter-out daemon/server.c daemon/config.c \
                  daemon/confine.c daemon/privdrop.c,$(DAEMON_SRC))
LOCAL_OBJ    := $(call obj,$(LOCAL_SRC))
CLIENT_OBJ   := $(call obj,$(CLIENT_SRC))
TESTLIB_OBJ  := $(call obj,$(TESTLIB_SRC))

SAFERRINGD   := $(B)/sbin/saferringd
LIB_SO       := $(B)/lib/libsaferring.so.$(SO_MAJOR).$(SO_MINOR)
LIB_A        := $(B)/lib/libsaferring.a
# The names libsaferring exports, one a line, from its symbol map.
LIB_MAP      := client/libsaferring.map
LIB_SYMS     := $(B)/lib/libsaferring.syms
# The library's internals (wire format, protobuf-c code) for the programs
# of this tree that speak the protocol themselves (saferringctl, the
# end-to-end tests).  Never installed: libsaferring.a keeps its own copy
# private.  The public names (status.c) come from libsaferring.a alone.
PROTO_AR     := $(B)/lib/libsaferring-proto.a
PROTO_AR_OBJ := $(filter-out %/status.o,$(COMMON_OBJ))
DAEMON_AR    := $(B)/lib/libsaferringd-modules.a
EXAMPLES     := $(patsubst examples/%.c,$(B)/bin/%,$(EXAMPLE_SRC))
TOOLS        := $(patsubst tools/%.c,$(B)/bin/%,$(TOOL_SRC))
UNIT_TESTS   := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
E2E_TESTS    := $(patsubst tests/e2e/%.c,$(B)/tests/%,$(E2E_SRC))
# The end-to-end tests that go through libsaferring run a second time
# over the socket (protocol v1): both transports stay tested.
E2E_V1_TESTS := $(addprefix $(B)/tests/,test_roundtrip test_ops_files \
                  test_ops_sockets test_ops_chains test_ops_multishot \
                  test_ops_timeouts test_refusals test_policy test_limits \
                  test_admission test_sigterm test_killed_client \
                  test_backpressure test_evloop_api test_evloop_epoll \
                  test_evloop_uv test_properties test_threads)
# The operation tests run once more on each in-process backend
# (SAFERRING_BACKEND=direct, =threads): the same checks, statuses and
# completions whoever does the I/O.
E2E_BACKEND_TESTS := $(addprefix $(B)/tests/,test_ops_files test_ops_sockets \
                  test_ops_chains test_ops_multishot test_ops_timeouts \
                  test_evloop_api test_evloop_epoll test_evloop_uv \
                  test_threads)

.PHONY: all deps users run check check-asan check-tsan check-tsan-run \
        check-run clean abi-baseline
.DEFAULT_GOAL := all
# Object files reached only through pattern rules would count as
# intermediate and be deleted after each build, so every make would
# compile everything again.  Keep every target.
.SECONDARY:

all: $(SAFERRINGD) $(LIB_SO) $(LIB_A) $(EXAMPLES) $(TOOLS) $(UNIT_TESTS) $(E2E_TESTS)

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The daemon's user (saferringd) and the group that may connect
# (saferring), as systemd-sysusers creates them from systemd/sysusers.conf
# at install: saferringd started as root drops to that user.  Only root
# can add them; others run the daemon as themselves.
users:
	@if [ "$$(id -u)" = 0 ] && ! { getent passwd saferringd >/dev/null && \
	    getent group saferring >/dev/null; }; then \
	  echo "make users: creating user saferringd and group saferring"; \
	  if command -v systemd-sysusers >/dev/null; then \
	    systemd-sysusers $(CURDIR)/systemd/sysusers.conf; \
	  else \
	    getent group saferringd >/dev/null || groupadd --system saferringd; \
	    getent passwd saferringd >/dev/null || useradd --system \
	      --gid saferringd --no-create-home --home-dir / \
	      --shell /usr/sbin/nologin saferringd; \
	    getent group saferring >/dev/null || groupadd --system saferring; \
	  fi; \
	fi

# Each runs a fresh make after deps so that probes of installed files
# (liburing.a above) see the packages deps just installed.
run: deps users
	@$(MAKE) --no-print-directory all
	$(SAFERRINGD) --foreground $(if $(SOCKET),--socket $(SOCKET))

check: deps users
	@$(MAKE) --no-print-directory check-run

check-asan: deps users
	@$(MAKE) --no-print-directory B=build-asan \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  CFLAGS="-O1 -g" check-run

check-run: all
	@B=$(B) tests/run-tests.sh $(UNIT_TESTS) $(E2E_TESTS) \
	  $(addprefix v1:,$(E2E_V1_TESTS)) \
	  $(addprefix direct:,$(E2E_BACKEND_TESTS)) \
	  $(addprefix threads:,$(E2E_BACKEND_TESTS)) \
	  $(wildcard tests/scripts/test_*.sh)

# ThreadSanitizer (libtsan comes with gcc): the unit tests, and the
# end-to-end tests that drive the daemon's threads hardest (workers,
# offload threads, the listener; stats, stop, the pinned budget, the
# log's rate limit), each against a daemon built the same way, in
# build-tsan/.  tests/scripts/tsan-run.sh fails on any report.
# test_threads (one client shared by 8 threads) runs its full 100000
# operations a thread here, over both transports; make check runs 10000
# (its default).
# -Wno-tsan: gcc says TSan cannot model atomic_thread_fence.  The only
# fences (proto/ring_layout.h) order the v2 rings' Dekker handshake with
# the other process, which TSan cannot see anyway; nothing between the
# daemon's own threads relies on a fence.
TSAN_E2E_TESTS := $(addprefix $(B)/tests/,test_workers test_roundtrip \
                    test_load test_sigterm test_backpressure \
                    test_hostile_storm test_limits test_killed_client \
                    test_refusals test_threads test_backend)

check-tsan: deps users
	@$(MAKE) --no-print-directory B=build-tsan \
	  SAN="-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan" \
	  CFLAGS="-O1 -g" check-tsan-run

check-tsan-run: all
	@B=$(B) SAFERRING_THREADS_OPS=100000 tests/scripts/tsan-run.sh \
	  $(UNIT_TESTS) $(TSAN_E2E_TESTS) v1:$(B)/tests/test_threads \
	  direct:$(B)/tests/test_threads threads:$(B)/tests/test_threads

$(PROTO_C) $(PROTO_H): proto/saferring.proto
	@mkdir -p $(B)/gen
	protoc-c --c_out=$(B)/gen -Iproto proto/saferring.proto

$(B)/obj/%.o: %.c $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

# Generated code is not held to our warning set.
$(B)/obj/gen/%.o: $(B)/gen/%.c $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=gnu11 -fPIC $(CFLAGS) $(SAN) -c $< -o $@

$(SAFERRINGD): $(call obj,$(DAEMON_MAIN)) $(DAEMON_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(DAEMON_LIBS)

$(LIB_SO): $(CLIENT_OBJ) $(LOCAL_OBJ) $(COMMON_OBJ) $(LIB_MAP)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libsaferring.so.$(SO_MAJOR) \
	  -Wl,--version-script=$(LIB_MAP) -Wl,-z,defs -o $@ \
	  $(CLIENT_OBJ) $(LOCAL_OBJ) $(COMMON_OBJ) $(LIB_URING) $(CLIENT_LIBS)
	ln -sf $(notdir $@) $(B)/lib/libsaferring.so.$(SO_MAJOR)
	ln -sf libsaferring.so.$(SO_MAJOR) $(B)/lib/libsaferring.so

$(LIB_SYMS): $(LIB_MAP)
	@mkdir -p $(dir $@)
	sed -n 's/^[[:space:]]*\(sr_[a-z0-9_]*\);.*/\1/p' $< > $@

# The static library is one object, partially linked from all of the
# library's, in which only the names of the symbol map stay global: the
# rest (wire_*, srl_*, the protobuf-c code's saferring__*) become local,
# as the version script makes them in the shared library, so none of
# them can clash with a name of the program that links it.
$(LIB_A): $(CLIENT_OBJ) $(LOCAL_OBJ) $(COMMON_OBJ) $(LIB_SYMS)
	@mkdir -p $(dir $@)
	$(CC) -r -nostdlib -o $(B)/lib/libsaferring.o $(CLIENT_OBJ) \
	  $(LOCAL_OBJ) $(COMMON_OBJ) $(LIB_URING)
	$(OBJCOPY) --keep-global-symbols=$(LIB_SYMS) $(B)/lib/libsaferring.o
	rm -f $@ && $(AR) rcs $@ $(B)/lib/libsaferring.o
	rm -f $(B)/lib/libsaferring.o

$(PROTO_AR): $(PROTO_AR_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

# The ABI make check holds libsaferring.so.1 to (tests/scripts/test_abi.sh):
# rewritten only on purpose, for a compatible change that is meant (a
# field out of reserved) or a release; commit it with the change.
abi-baseline: $(LIB_SO)
	abi/dump.sh $(B)/lib/libsaferring.so.$(SO_MAJOR) abi/libsaferring.so.$(SO_MAJOR).abi

# Examples and end-to-end tests link the static library: they run from
# the build tree without LD_LIBRARY_PATH.
$(B)/bin/%: $(B)/obj/examples/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLIENT_LIBS)

$(B)/bin/%: $(B)/obj/tools/%.o $(LIB_A) $(PROTO_AR)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLIENT_LIBS)

# Unit tests link the daemon's modules from an archive, so each pulls in
# only the modules it exercises.
$(DAEMON_AR): $(DAEMON_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(DAEMON_AR)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(DAEMON_LIBS) -lcmocka

$(B)/tests/%: $(B)/obj/tests/e2e/%.o $(TESTLIB_OBJ) $(LIB_A) $(PROTO_AR)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLIENT_LIBS) -lcmocka $(E2E_LIBS)

# The event-loop examples among them (libuv from make deps), and the
# client shared by threads.
$(B)/tests/test_evloop_epoll: E2E_LIBS := -lpthread
$(B)/tests/test_evloop_uv: E2E_LIBS := -luv -lpthread
$(B)/tests/test_threads: E2E_LIBS := -lpthread

# ---- bench (owned by bench/) ------------------------------------------
# make bench: deps, gnuplot, build, then bench/run-matrix.sh runs the
# standard matrix (saferring as v2, v2 without the inline attempt, and
# v1; a contended, an idle and the codec cell; about 12 minutes) and
# writes bench/results/latest.{md,png,jsonl}.  Its knobs are environment
# or make variables, e.g. make bench BENCH_SECONDS=1 BENCH_REPS=1 for a
# quick pass (see bench/run-matrix.sh).
BENCH_PACKAGES := gnuplot-nox
BENCH_SRC      := $(filter-out bench/codec-bench.c,$(wildcard bench/*.c))
BENCH          := $(B)/bin/saferring-bench
# make bench-codec: the codec micro-benchmark (nested Submit/Completions
# against OpBatch/CompletionBatch, ns per operation); CODEC_BENCH_ARGS
# are passed on (e.g. --seconds 2 --ops 64).
CODEC_BENCH    := $(B)/bin/codec-bench

.PHONY: bench bench-run bench-codec

bench: deps
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(BENCH_PACKAGES)"
	@$(MAKE) --no-print-directory bench-run

bench-run: $(SAFERRINGD) $(BENCH) $(CODEC_BENCH)
	@B=$(B) BENCH=$(BENCH) CODEC_BENCH=$(CODEC_BENCH) bench/run-matrix.sh

$(BENCH): $(call obj,$(BENCH_SRC)) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(if $(URING_A),$(URING_A),-luring) \
	  $(CLIENT_LIBS) -lpthread -lm

bench-codec: $(CODEC_BENCH)
	$(CODEC_BENCH) $(CODEC_BENCH_ARGS)

$(CODEC_BENCH): $(call obj,bench/codec-bench.c daemon/request.c) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lprotobuf-c
# ---- end bench ---------------------------------------------------------

# ---- fuzz and valgrind (owned by tests/fuzz/, tests/scripts/) ----------
# make fuzz [FUZZ_SECONDS=N]: clang's libFuzzer harnesses in tests/fuzz/,
# built with ASan+UBSan into build-fuzz/, each run N seconds (default 60)
# from the committed seeds in tests/fuzz/corpus/; fails on any crash,
# leak or sanitizer report.  make fuzz-corpus rewrites those seeds.
# make check-valgrind: the end-to-end tests against a saferringd running
# under valgrind memcheck (tests/scripts/valgrind-daemon.sh); make check
# runs the same through tests/scripts/test_valgrind.sh (about 90 s).
FUZZ_PACKAGES     := clang libclang-rt-14-dev
VALGRIND_PACKAGES := valgrind
FUZZ_B            := build-fuzz
FUZZ_SECONDS      ?= 60
FUZZ_SAN          := -fsanitize=fuzzer-no-link,address,undefined \
                     -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_PURE_SRC     := daemon/validator.c daemon/slot_table.c daemon/fd_registry.c \
                     daemon/request.c daemon/admission.c
FUZZ_REQUEST_SRC  := tests/fuzz/fuzz_request.c $(FUZZ_PURE_SRC)
FUZZ_SESSION_SRC  := tests/fuzz/fuzz_session.c tests/fuzz/fake_ring.c \
                     tests/fuzz/fake_offload.c tests/fuzz/quiet_log.c \
                     daemon/session.c daemon/session_socket.c daemon/session_rings.c \
                     daemon/arena.c daemon/numa.c daemon/policy.c \
                     $(FUZZ_PURE_SRC)
FUZZ_BATCH_SRC    := tests/fuzz/fuzz_batch.c daemon/request.c
FUZZ_RINGS_SRC    := tests/fuzz/fuzz_rings.c $(filter-out tests/fuzz/fuzz_session.c,$(FUZZ_SESSION_SRC))
FUZZ_NAMES        := fuzz_request fuzz_session fuzz_batch fuzz_rings
FUZZERS           := $(addprefix $(B)/fuzz/,$(FUZZ_NAMES))
# The same harnesses with tests/fuzz/replay_main.c instead of libFuzzer,
# built by the ordinary compiler with the build's flags: make check
# replays every committed corpus through them (tests/scripts/
# test_fuzz_replay.sh), under ASan and UBSan in check-asan.
REPLAYS           := $(addprefix $(B)/replay/,$(FUZZ_NAMES))

all: $(REPLAYS)

.PHONY: fuzz fuzz-build fuzz-run fuzz-corpus check-valgrind

fuzz: deps
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(FUZZ_PACKAGES)"
	@$(MAKE) --no-print-directory B=$(FUZZ_B) CC=clang SAN="$(FUZZ_SAN)" \
	  CFLAGS="-O1 -g" fuzz-run

fuzz-build: $(FUZZERS)

fuzz-run: fuzz-build
	@B=$(B) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run-fuzz.sh $(FUZZERS)

$(B)/fuzz/fuzz_request: $(call obj,$(FUZZ_REQUEST_SRC)) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ -lprotobuf-c

$(B)/fuzz/fuzz_session: $(call obj,$(FUZZ_SESSION_SRC)) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ -lprotobuf-c

$(B)/fuzz/fuzz_batch: $(call obj,$(FUZZ_BATCH_SRC)) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ -lprotobuf-c

$(B)/fuzz/fuzz_rings: $(call obj,$(FUZZ_RINGS_SRC)) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ -lprotobuf-c

REPLAY_MAIN := $(call obj,tests/fuzz/replay_main.c)

$(B)/replay/fuzz_request: $(call obj,$(FUZZ_REQUEST_SRC)) $(REPLAY_MAIN) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lprotobuf-c

$(B)/replay/fuzz_session: $(call obj,$(FUZZ_SESSION_SRC)) $(REPLAY_MAIN) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lprotobuf-c

$(B)/replay/fuzz_batch: $(call obj,$(FUZZ_BATCH_SRC)) $(REPLAY_MAIN) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lprotobuf-c

$(B)/replay/fuzz_rings: $(call obj,$(FUZZ_RINGS_SRC)) $(REPLAY_MAIN) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lprotobuf-c

# Every harness's seeds: gen_corpus writes fuzz_request's and
# fuzz_session's, fuzz_batch and fuzz_rings write their own (through
# their replay builds, no clang needed).  Only these four folders are
# replaced.
fuzz-corpus: $(B)/fuzz/gen_corpus $(B)/replay/fuzz_batch $(B)/replay/fuzz_rings
	rm -rf $(addprefix tests/fuzz/corpus/,$(FUZZ_NAMES))
	$(B)/fuzz/gen_corpus tests/fuzz/corpus
	FUZZ_BATCH_SEEDS=tests/fuzz/corpus/fuzz_batch $(B)/replay/fuzz_batch
	FUZZ_RINGS_SEEDS=tests/fuzz/corpus/fuzz_rings $(B)/replay/fuzz_rings

$(B)/fuzz/gen_corpus: $(call obj,tests/fuzz/gen_corpus.c $(PROTO_C))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lprotobuf-c

check-valgrind: deps
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(VALGRIND_PACKAGES)"
	@$(MAKE) --no-print-directory all
	@B=$(B) tests/scripts/valgrind-daemon.sh $(E2E_TESTS)
# ---- end fuzz and valgrind ---------------------------------------------

# ---- fio engine (owned by fio/) ---------------------------------------
# make fio-engine: build/lib/libsaferring-fio.so, an external fio ioengine
# (fio --ioengine=external:build/lib/libsaferring-fio.so ...).  Debian's
# fio ships no headers, so it compiles against the source of the
# installed fio version, which fio/fetch-src.sh fetches with a private apt
# configuration into build/fio-src/ and configures (FIO_SRC=DIR: a
# configured fio source tree instead).  It links libsaferring statically
# and exports nothing but the engine.
# make check-fio: the engine loads and completes short jobs (fio/smoke.sh);
# not part of make check, which must not fetch sources from the archive.
# make bench-fio: fio/run-bench.sh runs the 4k randread page-cache and
# O_DIRECT cells at QD 1/32/128 and 128k seqread with fio's io_uring
# (plain, and fixedbufs+registerfiles), libaio, psync and saferring
# engines, and writes bench/results/fio.md (about 8 minutes; knobs such
# as FIO_RUNTIME=1 FIO_REPS=1 in fio/README.md).
FIO_PACKAGES   := fio jq dpkg-dev
FIO_DEB_VER    := $(shell dpkg-query -W -f='$${Version}' fio 2>/dev/null)
FIO_SRC        ?= $(B)/fio-src/fio-$(shell echo '$(FIO_DEB_VER)' | sed -e 's/^[0-9]*://' -e 's/-[^-]*$$//')
FIO_ENGINE     := $(B)/lib/libsaferring-fio.so
# fio's own CPPFLAGS (struct layouts and its dprint depend on them);
# its headers are -isystem: our warnings are for our code.
FIO_ENGINE_CPPFLAGS = -D_GNU_SOURCE -D_LARGEFILE_SOURCE -D_FILE_OFFSET_BITS=64 \
                      -DFIO_INTERNAL -DFIO_INC_DEBUG \
                      -include $(FIO_SRC)/config-host.h -isystem $(FIO_SRC) \
                      -Iinclude

.PHONY: fio-engine check-fio check-fio-run bench-fio bench-fio-run

fio-engine: deps
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(FIO_PACKAGES)"
	@$(MAKE) --no-print-directory $(FIO_ENGINE)

check-fio: deps users
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(FIO_PACKAGES)"
	@$(MAKE) --no-print-directory check-fio-run

check-fio-run: $(SAFERRINGD) $(FIO_ENGINE)
	@SAFERRINGD=$(SAFERRINGD) FIO_ENGINE=$(FIO_ENGINE) fio/smoke.sh

bench-fio: deps users
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(FIO_PACKAGES)"
	@$(MAKE) --no-print-directory bench-fio-run

bench-fio-run: $(SAFERRINGD) $(FIO_ENGINE) $(BENCH)
	@B=$(B) SAFERRINGD=$(SAFERRINGD) FIO_ENGINE=$(FIO_ENGINE) BENCH=$(BENCH) \
	  fio/run-bench.sh

$(FIO_SRC)/config-host.h:
	@mkdir -p $(B)/fio-src
	fio/fetch-src.sh $(B)/fio-src >/dev/null
	@test -f $@ || { echo "$@ is missing: FIO_SRC must name a fio" \
	  "source tree where ./configure ran" >&2; exit 1; }

$(FIO_ENGINE): fio/saferring-fio.c fio/engine.map include/saferring.h $(LIB_A) \
                $(FIO_SRC)/config-host.h
	@mkdir -p $(dir $@)
	$(CC) $(FIO_ENGINE_CPPFLAGS) \
	  -DSR_FIO_BUILT_FOR="\"$$(sed -n 's/^DEF_VER=//p' $(FIO_SRC)/FIO-VERSION-GEN)\"" \
	  $(ALL_CFLAGS) $(LDFLAGS) -shared -o $@ fio/saferring-fio.c \
	  -Wl,--version-script=fio/engine.map -Wl,--exclude-libs,ALL \
	  -Wl,--as-needed $(LIB_A) $(CLIENT_LIBS)
# ---- end fio engine ----------------------------------------------------

# ---- cross build (make cross ARCH=aarch64) -----------------------------
# Everything `all` builds (daemon, libraries, tools, examples, tests'
# programs), for another architecture, into build-$(ARCH)/, with Debian's
# cross compiler and that architecture's -dev packages (multiarch); held
# to the same warnings.  Nothing of it runs here.  make deps-cross adds
# the architecture to dpkg and installs what is missing.
ARCH            ?= aarch64
CROSS_DEB_ARCH_aarch64 := arm64
CROSS_DEB_ARCH  := $(CROSS_DEB_ARCH_$(ARCH))
CROSS_TRIPLE    := $(ARCH)-linux-gnu
CROSS_B         := build-$(ARCH)
# The target's copy of every library make deps installs for the host, so
# a new dependency cannot be forgotten here.
CROSS_PACKAGES  := gcc-$(CROSS_TRIPLE) \
                   $(addsuffix :$(CROSS_DEB_ARCH),$(filter lib%-dev,$(DEB_PACKAGES)))
# What file(1) says of every program and library of such a build.
CROSS_FILE_aarch64 := ARM aarch64

.PHONY: cross deps-cross cross-verify
deps-cross: deps
	@[ -n "$(CROSS_DEB_ARCH)" ] || { echo "make cross: ARCH=$(ARCH) is not" \
	  "one this Makefile knows (aarch64)" >&2; exit 1; }
	@if ! { [ "$$(dpkg --print-architecture)" = $(CROSS_DEB_ARCH) ] || \
	    dpkg --print-foreign-architectures | grep -qx $(CROSS_DEB_ARCH); }; then \
	  echo "make deps-cross: adding architecture $(CROSS_DEB_ARCH) to dpkg"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO dpkg --add-architecture $(CROSS_DEB_ARCH); \
	fi
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(CROSS_PACKAGES)"

cross: deps-cross
	@$(MAKE) --no-print-directory B=$(CROSS_B) CC=$(CROSS_TRIPLE)-gcc \
	  AR=$(CROSS_TRIPLE)-ar OBJCOPY=$(CROSS_TRIPLE)-objcopy all
	@$(MAKE) --no-print-directory B=$(CROSS_B) cross-verify

# Every ELF file of the build is the target's: a host object that slipped
# in (a wrong archive, a tool's default) fails here rather than on the
# target machine.
cross-verify:
	@n=0; for f in $$(find $(B)/obj $(B)/sbin $(B)/bin $(B)/lib \
	    $(B)/tests $(B)/replay -type f); do \
	  d=$$(file -b "$$f"); \
	  case $$d in ELF*) ;; *) continue ;; esac; \
	  case $$d in *"$(CROSS_FILE_$(ARCH))"*) n=$$((n + 1)) ;; \
	  *) echo "make cross: $$f is not $(ARCH): $$d" >&2; exit 1 ;; esac; \
	done; \
	echo "make cross: $$n ELF files in $(B)/, all $(CROSS_FILE_$(ARCH))"

clean:
	rm -rf build build-asan build-tsan build-fuzz build-aarch64

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

# --- install -----------------------------------------------------------
PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
SBINDIR      ?= $(PREFIX)/sbin
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
MANDIR       ?= $(PREFIX)/share/man
DATADIR      ?= $(PREFIX)/share/saferring
# systemd reads units, sysusers.d and tmpfiles.d below /usr/local/lib too.
SYSTEMDDIR   ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR  ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR  ?= $(PREFIX)/lib/tmpfiles.d

SUBST = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@SBINDIR@|$(SBINDIR)|g' \
	    -e 's|@VERSION@|$(VERSION)|g'

# saferring.pc and saferringd.service name installation paths, so they
# are written at install time from the PREFIX of that make install, never
# kept in the build tree where a plain `make` could leave stale ones.

INSTALLED_BINS := $(notdir $(EXAMPLES) $(TOOLS))
MAN_PAGES      := $(wildcard man/*.[1-8])

.PHONY: install uninstall
install: $(SAFERRINGD) $(LIB_SO) $(LIB_A) $(EXAMPLES) $(TOOLS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
	  $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(SYSTEMDDIR) $(DESTDIR)$(SYSUSERSDIR) \
	  $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(DATADIR)
	install -m 0755 $(SAFERRINGD) $(DESTDIR)$(SBINDIR)/saferringd
	$(if $(INSTALLED_BINS),install -m 0755 $(addprefix $(B)/bin/,$(INSTALLED_BINS)) $(DESTDIR)$(BINDIR)/)
	install -m 0755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(LIB_SO)) $(DESTDIR)$(LIBDIR)/libsaferring.so.$(SO_MAJOR)
	ln -sf libsaferring.so.$(SO_MAJOR) $(DESTDIR)$(LIBDIR)/libsaferring.so
	install -m 0644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 0644 include/saferring.h $(DESTDIR)$(INCLUDEDIR)/
	$(SUBST) client/saferring.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/saferring.pc
	chmod 0644 $(DESTDIR)$(LIBDIR)/pkgconfig/saferring.pc
	$(SUBST) systemd/saferringd.service.in > $(DESTDIR)$(SYSTEMDDIR)/saferringd.service
	chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/saferringd.service
	install -m 0644 systemd/saferringd.socket $(DESTDIR)$(SYSTEMDDIR)/
	install -m 0644 systemd/sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/saferring.conf
	install -m 0644 systemd/tmpfiles.conf $(DESTDIR)$(TMPFILESDIR)/saferring.conf
	install -m 0644 systemd/sysctl-io_uring.conf.in $(DESTDIR)$(DATADIR)/
	for m in $(MAN_PAGES); do \
	  s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s; \
	  install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/saferringd
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(INSTALLED_BINS))
	rm -f $(DESTDIR)$(LIBDIR)/libsaferring.so* $(DESTDIR)$(LIBDIR)/libsaferring.a
	rm -f $(DESTDIR)$(INCLUDEDIR)/saferring.h $(DESTDIR)$(LIBDIR)/pkgconfig/saferring.pc
	rm -f $(DESTDIR)$(SYSTEMDDIR)/saferringd.service $(DESTDIR)$(SYSTEMDDIR)/saferringd.socket
	rm -f $(DESTDIR)$(SYSUSERSDIR)/saferring.conf $(DESTDIR)$(TMPFILESDIR)/saferring.conf
	rm -f $(DESTDIR)$(DATADIR)/sysctl-io_uring.conf.in
	-rmdir $(DESTDIR)$(DATADIR) 2>/dev/null
	for m in $(MAN_PAGES); do s=$${m##*.}; rm -f $(DESTDIR)$(MANDIR)/man$$s/$${m##*/}; done

# ---- libsaferring-uring (owned by uring/, tests/compat/) --------------
# A second library, liburing's API on saferringd: uring/ holds its sources,
# its liburing.h (installed under INCLUDEDIR/saferring-uring/), its symbol
# map and its .pc; it uses libsaferring's public API only.
#   make uring          the library, static and shared
#   make check-compat   its own tests, then liburing 2.3's examples and
#                       tests (Debian's source package, fetched with a
#                       private apt configuration into $(B)/compat/) built
#                       unmodified against it and run through a private
#                       saferringd, each compared with plain liburing
#   make bench-cp       liburing's io_uring-cp (as check-compat built it)
#                       against saferring-cp on a 1 GiB file
SRU_VERSION  := 1.0
SRU_SRC      := $(wildcard uring/*.c)
SRU_OBJ      := $(call obj,$(SRU_SRC))
SRU_SO       := $(B)/lib/libsaferring-uring.so.$(SRU_VERSION)
SRU_A        := $(B)/lib/libsaferring-uring.a
SRU_PC_B     := $(B)/uring/pkgconfig/saferring-uring.pc
SRU_TEST_SRC := $(wildcard tests/compat/test_*.c)
SRU_TESTS    := $(patsubst tests/compat/%.c,$(B)/tests/compat/%,$(SRU_TEST_SRC))
COMPAT_PACKAGES := dpkg-dev

.PHONY: uring check-compat check-compat-run bench-cp bench-backends
all: uring
uring: $(SRU_A) $(SRU_SO) $(SRU_PC_B)

$(SRU_OBJ): CPPFLAGS += -Iuring/include
# Its tests are liburing programs: <liburing.h> is the facade's.
$(call obj,$(SRU_TEST_SRC)): CPPFLAGS += -Iuring/include/saferring-uring

$(SRU_A): $(SRU_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

$(SRU_SO): $(SRU_OBJ) $(LIB_SO) uring/libsaferring-uring.map
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libsaferring-uring.so.1 \
	  -Wl,--version-script=uring/libsaferring-uring.map -o $@ \
	  $(SRU_OBJ) -L$(B)/lib -lsaferring
	ln -sf $(notdir $@) $(B)/lib/libsaferring-uring.so.1
	ln -sf libsaferring-uring.so.1 $(B)/lib/libsaferring-uring.so

# For programs built in the tree (check-compat): the same flags an
# installed saferring-uring.pc gives, with the static archives, so that
# they run without LD_LIBRARY_PATH.
$(SRU_PC_B): uring/saferring-uring.pc.in Makefile
	@mkdir -p $(dir $@)
	printf '%s\n' 'Name: saferring-uring' \
	  'Description: libsaferring-uring, build tree' 'Version: $(SRU_VERSION)' \
	  'Libs: $(CURDIR)/$(SRU_A) $(CURDIR)/$(LIB_A) $(CLIENT_LIBS)' \
	  'Cflags: -I$(CURDIR)/uring/include/saferring-uring' > $@

$(B)/tests/compat/%: $(B)/obj/tests/compat/%.o $(SRU_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLIENT_LIBS) -lpthread

check-compat: deps users
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(COMPAT_PACKAGES)"
	@$(MAKE) --no-print-directory check-compat-run

check-compat-run: all $(SRU_TESTS)
	@B=$(B) tests/compat/run-compat.sh $(SRU_TESTS)

bench-cp: all
	@B=$(B) tests/compat/bench-cp.sh

# libsaferring's backends side by side (bench/run-backends.sh; about 4
# minutes): bench/results/backends.md.
bench-backends: all $(BENCH)
	@B=$(B) bench/run-backends.sh

install: install-uring
uninstall: uninstall-uring
.PHONY: install-uring uninstall-uring
install-uring: $(SRU_SO) $(SRU_A)
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig \
	  $(DESTDIR)$(INCLUDEDIR)/saferring-uring/liburing $(DESTDIR)$(MANDIR)/man7
	install -m 0755 $(SRU_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(SRU_SO)) $(DESTDIR)$(LIBDIR)/libsaferring-uring.so.1
	ln -sf libsaferring-uring.so.1 $(DESTDIR)$(LIBDIR)/libsaferring-uring.so
	install -m 0644 $(SRU_A) $(DESTDIR)$(LIBDIR)/
	install -m 0644 uring/include/saferring-uring/liburing.h \
	  $(DESTDIR)$(INCLUDEDIR)/saferring-uring/
	install -m 0644 uring/include/saferring-uring/liburing/*.h \
	  $(DESTDIR)$(INCLUDEDIR)/saferring-uring/liburing/
	$(SUBST) uring/saferring-uring.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/saferring-uring.pc
	chmod 0644 $(DESTDIR)$(LIBDIR)/pkgconfig/saferring-uring.pc
	install -m 0644 uring/saferring-uring.7 $(DESTDIR)$(MANDIR)/man7/

uninstall-uring:
	rm -f $(DESTDIR)$(LIBDIR)/libsaferring-uring.so* $(DESTDIR)$(LIBDIR)/libsaferring-uring.a
	rm -rf $(DESTDIR)$(INCLUDEDIR)/saferring-uring
	rm -f $(DESTDIR)$(LIBDIR)/pkgconfig/saferring-uring.pc
	rm -f $(DESTDIR)$(MANDIR)/man7/saferring-uring.7
# ---- end libsaferring-uring --------------------------------------------
