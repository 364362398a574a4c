build-tsan/obj/client/client.o: client/client.c client/client.h \
 proto/batch.h proto/op.h include/saferring.h \
 build-tsan/gen/saferring.pb-c.h proto/wire.h proto/op.h proto/shm_ring.h \
 proto/ring_layout.h proto/spin.h proto/wire.h
client/client.h:
proto/batch.h:
proto/op.h:
include/saferring.h:
build-tsan/gen/saferring.pb-c.h:
proto/wire.h:
proto/op.h:
proto/shm_ring.h:
proto/ring_layout.h:
proto/spin.h:
proto/wire.h:
