build-tsan/obj/tests/fuzz/fuzz_session.o: tests/fuzz/fuzz_session.c \
 tests/fuzz/fake_ring.h daemon/log.h daemon/offload.h daemon/policy.h \
 include/saferring.h build-tsan/gen/saferring.pb-c.h daemon/session.h \
 daemon/offload.h daemon/policy.h proto/wire.h
tests/fuzz/fake_ring.h:
daemon/log.h:
daemon/offload.h:
daemon/policy.h:
include/saferring.h:
build-tsan/gen/saferring.pb-c.h:
daemon/session.h:
daemon/offload.h:
daemon/policy.h:
proto/wire.h:
