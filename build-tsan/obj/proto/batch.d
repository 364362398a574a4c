build-tsan/obj/proto/batch.o: proto/batch.c proto/batch.h proto/op.h \
 include/saferring.h build-tsan/gen/saferring.pb-c.h proto/wire.h
proto/batch.h:
proto/op.h:
include/saferring.h:
build-tsan/gen/saferring.pb-c.h:
proto/wire.h:
