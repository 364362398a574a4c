build-tsan/obj/daemon/session_socket.o: daemon/session_socket.c \
 proto/batch.h proto/op.h include/saferring.h \
 build-tsan/gen/saferring.pb-c.h proto/wire.h daemon/log.h \
 daemon/request.h daemon/validator.h daemon/fd_registry.h proto/op.h \
 daemon/slot_table.h daemon/session_impl.h daemon/arena.h \
 daemon/offload.h daemon/policy.h daemon/ring.h proto/shm_ring.h \
 proto/ring_layout.h daemon/session.h proto/wire.h
proto/batch.h:
proto/op.h:
include/saferring.h:
build-tsan/gen/saferring.pb-c.h:
proto/wire.h:
daemon/log.h:
daemon/request.h:
daemon/validator.h:
daemon/fd_registry.h:
proto/op.h:
daemon/slot_table.h:
daemon/session_impl.h:
daemon/arena.h:
daemon/offload.h:
daemon/policy.h:
daemon/ring.h:
proto/shm_ring.h:
proto/ring_layout.h:
daemon/session.h:
proto/wire.h:
