build-tsan/obj/tests/fuzz/fake_ring.o: tests/fuzz/fake_ring.c \
 tests/fuzz/fake_ring.h daemon/ring.h include/saferring.h
tests/fuzz/fake_ring.h:
daemon/ring.h:
include/saferring.h:
