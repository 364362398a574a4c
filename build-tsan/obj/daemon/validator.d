build-tsan/obj/daemon/validator.o: daemon/validator.c daemon/validator.h \
 daemon/fd_registry.h proto/op.h include/saferring.h daemon/slot_table.h \
 proto/op_table.h daemon/admission.h
daemon/validator.h:
daemon/fd_registry.h:
proto/op.h:
include/saferring.h:
daemon/slot_table.h:
proto/op_table.h:
daemon/admission.h:
