build-tsan/obj/proto/status.o: proto/status.c proto/op_table.h \
 include/saferring.h build-tsan/gen/saferring.pb-c.h
proto/op_table.h:
include/saferring.h:
build-tsan/gen/saferring.pb-c.h:
