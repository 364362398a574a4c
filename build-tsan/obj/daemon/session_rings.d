build-tsan/obj/daemon/session_rings.o: daemon/session_rings.c \
 proto/batch.h proto/op.h include/saferring.h \
 build-tsan/gen/saferring.pb-c.h proto/wire.h daemon/log.h \
 daemon/session_impl.h daemon/arena.h daemon/fd_registry.h \
 daemon/offload.h daemon/policy.h daemon/ring.h proto/shm_ring.h \
 proto/ring_layout.h daemon/session.h daemon/slot_table.h \
 daemon/validator.h proto/op.h proto/wire.h
proto/batch.h:
proto/op.h:
include/saferring.h:
build-tsan/gen/saferring.pb-c.h:
proto/wire.h:
daemon/log.h:
daemon/session_impl.h:
daemon/arena.h:
daemon/fd_registry.h:
daemon/offload.h:
daemon/policy.h:
daemon/ring.h:
proto/shm_ring.h:
proto/ring_layout.h:
daemon/session.h:
daemon/slot_table.h:
daemon/validator.h:
proto/op.h:
proto/wire.h:
