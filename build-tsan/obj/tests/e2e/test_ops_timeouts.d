build-tsan/obj/tests/e2e/test_ops_timeouts.o: \
 tests/e2e/test_ops_timeouts.c tests/e2e/ops_util.h \
 tests/e2e/../lib/harness.h proto/batch.h proto/op.h include/saferring.h \
 build-tsan/gen/saferring.pb-c.h proto/wire.h proto/op.h \
 proto/ring_layout.h proto/wire.h
tests/e2e/ops_util.h:
tests/e2e/../lib/harness.h:
proto/batch.h:
proto/op.h:
include/saferring.h:
build-tsan/gen/saferring.pb-c.h:
proto/wire.h:
proto/op.h:
proto/ring_layout.h:
proto/wire.h:
