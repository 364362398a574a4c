build-tsan/obj/proto/op_table.o: proto/op_table.c proto/op_table.h \
 include/saferring.h
proto/op_table.h:
include/saferring.h:
