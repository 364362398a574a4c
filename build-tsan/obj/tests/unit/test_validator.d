build-tsan/obj/tests/unit/test_validator.o: tests/unit/test_validator.c \
 daemon/validator.h daemon/fd_registry.h proto/op.h include/saferring.h \
 daemon/slot_table.h
daemon/validator.h:
daemon/fd_registry.h:
proto/op.h:
include/saferring.h:
daemon/slot_table.h:
