build-tsan/obj/tests/unit/test_ring_restrictions.o: \
 tests/unit/test_ring_restrictions.c daemon/ring.h include/saferring.h
daemon/ring.h:
include/saferring.h:
