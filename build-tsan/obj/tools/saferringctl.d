build-tsan/obj/tools/saferringctl.o: tools/saferringctl.c \
 include/saferring.h build-tsan/gen/saferring.pb-c.h proto/wire.h
include/saferring.h:
build-tsan/gen/saferring.pb-c.h:
proto/wire.h:
