build-tsan/obj/daemon/request.o: daemon/request.c daemon/request.h \
 build-tsan/gen/saferring.pb-c.h daemon/validator.h daemon/fd_registry.h \
 proto/op.h include/saferring.h daemon/slot_table.h
daemon/request.h:
build-tsan/gen/saferring.pb-c.h:
daemon/validator.h:
daemon/fd_registry.h:
proto/op.h:
include/saferring.h:
daemon/slot_table.h:
