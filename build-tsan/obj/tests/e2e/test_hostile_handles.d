build-tsan/obj/tests/e2e/test_hostile_handles.o: \
 tests/e2e/test_hostile_handles.c tests/e2e/../lib/harness.h \
 proto/batch.h proto/op.h include/saferring.h \
 build-tsan/gen/saferring.pb-c.h proto/wire.h proto/op.h \
 proto/ring_layout.h proto/wire.h
tests/e2e/../lib/harness.h:
proto/batch.h:
proto/op.h:
include/saferring.h:
build-tsan/gen/saferring.pb-c.h:
proto/wire.h:
proto/op.h:
proto/ring_layout.h:
proto/wire.h:
