build-tsan/obj/tests/fuzz/fuzz_rings.o: tests/fuzz/fuzz_rings.c \
 proto/batch.h proto/op.h include/saferring.h \
 build-tsan/gen/saferring.pb-c.h proto/wire.h tests/fuzz/fake_ring.h \
 daemon/offload.h daemon/policy.h proto/ring_layout.h daemon/session.h \
 daemon/offload.h daemon/policy.h proto/shm_ring.h proto/ring_layout.h \
 proto/wire.h
proto/batch.h:
proto/op.h:
include/saferring.h:
build-tsan/gen/saferring.pb-c.h:
proto/wire.h:
tests/fuzz/fake_ring.h:
daemon/offload.h:
daemon/policy.h:
proto/ring_layout.h:
daemon/session.h:
daemon/offload.h:
daemon/policy.h:
proto/shm_ring.h:
proto/ring_layout.h:
proto/wire.h:
