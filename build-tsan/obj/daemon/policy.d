build-tsan/obj/daemon/policy.o: daemon/policy.c daemon/policy.h \
 proto/op_table.h include/saferring.h
daemon/policy.h:
proto/op_table.h:
include/saferring.h:
