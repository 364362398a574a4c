build-tsan/obj/daemon/ring.o: daemon/ring.c daemon/ring.h \
 proto/op_table.h include/saferring.h
daemon/ring.h:
proto/op_table.h:
include/saferring.h:
