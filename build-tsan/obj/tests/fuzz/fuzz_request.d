build-tsan/obj/tests/fuzz/fuzz_request.o: tests/fuzz/fuzz_request.c \
 daemon/fd_registry.h include/saferring.h build-tsan/gen/saferring.pb-c.h \
 daemon/slot_table.h daemon/request.h daemon/validator.h \
 daemon/fd_registry.h proto/op.h daemon/slot_table.h daemon/validator.h \
 proto/wire.h
daemon/fd_registry.h:
include/saferring.h:
build-tsan/gen/saferring.pb-c.h:
daemon/slot_table.h:
daemon/request.h:
daemon/validator.h:
daemon/fd_registry.h:
proto/op.h:
daemon/slot_table.h:
daemon/validator.h:
proto/wire.h:
