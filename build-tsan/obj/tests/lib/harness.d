build-tsan/obj/tests/lib/harness.o: tests/lib/harness.c \
 tests/lib/harness.h proto/batch.h proto/op.h include/saferring.h \
 build-tsan/gen/saferring.pb-c.h proto/wire.h proto/op.h \
 proto/ring_layout.h proto/wire.h tests/lib/child.h
tests/lib/harness.h:
proto/batch.h:
proto/op.h:
include/saferring.h:
build-tsan/gen/saferring.pb-c.h:
proto/wire.h:
proto/op.h:
proto/ring_layout.h:
proto/wire.h:
tests/lib/child.h:
