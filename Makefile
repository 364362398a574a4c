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

VERSION      := 0.1.0
SO_MAJOR     := 1
SO_MINOR     := 0

B            ?= build
CC           ?= cc
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
URING_A      := $(firstword $(wildcard /usr/lib/$(shell gcc -print-multiarch 2>/dev/null)/liburing.a /usr/lib/liburing.a))
DAEMON_LIBS  := $(if $(URING_A),$(URING_A),-luring) -lprotobuf-c -lseccomp -lsystemd
CLIENT_LIBS  := -lprotobuf-c -lseccomp

DEB_PACKAGES := gcc make pkg-config liburing-dev libseccomp-dev \
                libprotobuf-c-dev protobuf-c-compiler libcmocka-dev \
                libsystemd-dev strace

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
CLIENT_OBJ   := $(call obj,$(CLIENT_SRC))
TESTLIB_OBJ  := $(call obj,$(TESTLIB_SRC))

SAFERRINGD   := $(B)/sbin/saferringd
LIB_SO       := $(B)/lib/libsaferring.so.$(SO_MAJOR).$(SO_MINOR)
LIB_A        := $(B)/lib/libsaferring.a
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
                  test_backpressure)

.PHONY: all deps users run check check-asan check-tsan check-tsan-run \
        check-run clean
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
	  $(addprefix v1:,$(E2E_V1_TESTS)) $(wildcard tests/scripts/test_*.sh)

# ThreadSanitizer (libtsan comes with gcc): the unit tests, and the
# end-to-end tests that drive the daemon's threads hardest (workers,
# offload threads, the listener; stats, stop, the pinned budget, the
# log's rate limit), each against a daemon built the same way, in
# build-tsan/.  tests/scripts/tsan-run.sh fails on any report.
# -Wno-tsan: gcc says TSan cannot model atomic_thread_fence.  The only
# fences (proto/ring_layout.h) order the v2 rings' Dekker handshake with
# the other process, which TSan cannot see anyway; nothing between the
# daemon's own threads relies on a fence.
TSAN_E2E_TESTS := $(addprefix $(B)/tests/,test_workers test_roundtrip \
                    test_load test_sigterm test_backpressure \
                    test_hostile_storm test_limits test_killed_client \
                    test_refusals)

check-tsan: deps users
	@$(MAKE) --no-print-directory B=build-tsan \
	  SAN="-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan" \
	  CFLAGS="-O1 -g" check-tsan-run

check-tsan-run: all
	@B=$(B) tests/scripts/tsan-run.sh $(UNIT_TESTS) $(TSAN_E2E_TESTS)

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

$(LIB_SO): $(CLIENT_OBJ) $(COMMON_OBJ) client/libsaferring.map
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libsaferring.so.$(SO_MAJOR) \
	  -Wl,--version-script=client/libsaferring.map -o $@ \
	  $(CLIENT_OBJ) $(COMMON_OBJ) $(CLIENT_LIBS)
	ln -sf $(notdir $@) $(B)/lib/libsaferring.so.$(SO_MAJOR)
	ln -sf libsaferring.so.$(SO_MAJOR) $(B)/lib/libsaferring.so

$(LIB_A): $(CLIENT_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Examples and end-to-end tests link the static library: they run from
# the build tree without LD_LIBRARY_PATH.
$(B)/bin/%: $(B)/obj/examples/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLIENT_LIBS)

$(B)/bin/%: $(B)/obj/tools/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLIENT_LIBS)

# Unit tests link the daemon's modules from an archive, so each pulls in
# only the modules it exercises.
$(DAEMON_AR): $(DAEMON_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(DAEMON_AR)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(DAEMON_LIBS) -lcmocka

$(B)/tests/%: $(B)/obj/tests/e2e/%.o $(TESTLIB_OBJ) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLIENT_LIBS) -lcmocka

# ---- bench (owned by bench/) ------------------------------------------
# make bench: deps, gnuplot, build, then bench/run-matrix.sh runs the
# standard matrix and writes bench/results/latest.{md,png,jsonl}.
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

bench-run: $(SAFERRINGD) $(BENCH)
	@B=$(B) BENCH=$(BENCH) bench/run-matrix.sh

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
                     daemon/arena.c daemon/policy.c \
                     $(FUZZ_PURE_SRC)
FUZZ_BATCH_SRC    := tests/fuzz/fuzz_batch.c daemon/request.c
FUZZERS           := $(B)/fuzz/fuzz_request $(B)/fuzz/fuzz_session \
                     $(B)/fuzz/fuzz_batch

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

fuzz-corpus: $(B)/fuzz/gen_corpus
	rm -rf tests/fuzz/corpus
	$(B)/fuzz/gen_corpus tests/fuzz/corpus

$(B)/fuzz/gen_corpus: $(call obj,tests/fuzz/gen_corpus.c $(PROTO_C))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lprotobuf-c

check-valgrind: deps
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(VALGRIND_PACKAGES)"
	@$(MAKE) --no-print-directory all
	@B=$(B) tests/scripts/valgrind-daemon.sh $(E2E_TESTS)
# ---- end fuzz and valgrind ---------------------------------------------

clean:
	rm -rf build build-asan build-tsan build-fuzz

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
