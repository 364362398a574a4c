build-tsan/obj/tests/fuzz/fuzz_batch.o: tests/fuzz/fuzz_batch.c \
 proto/batch.h proto/op.h include/saferring.h \
 build-tsan/gen/saferring.pb-c.h proto/wire.h proto/op.h daemon/request.h \
 daemon/validator.h daemon/fd_registry.h daemon/slot_table.h proto/wire.h
proto/batch.h:
proto/op.h:
include/saferring.h:
build-tsan/gen/saferring.pb-c.h:
proto/wire.h:
proto/op.h:
daemon/request.h:
daemon/validator.h:
daemon/fd_registry.h:
daemon/slot_table.h:
proto/wire.h:
