build-tsan/obj/daemon/session.o: daemon/session.c daemon/admission.h \
 daemon/log.h proto/op_table.h include/saferring.h daemon/session_impl.h \
 daemon/arena.h proto/batch.h proto/op.h build-tsan/gen/saferring.pb-c.h \
 proto/wire.h daemon/fd_registry.h daemon/offload.h daemon/policy.h \
 daemon/ring.h proto/shm_ring.h proto/ring_layout.h daemon/session.h \
 daemon/slot_table.h daemon/validator.h proto/op.h proto/wire.h
daemon/admission.h:
daemon/log.h:
proto/op_table.h:
include/saferring.h:
daemon/session_impl.h:
daemon/arena.h:
proto/batch.h:
proto/op.h:
build-tsan/gen/saferring.pb-c.h:
proto/wire.h:
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
