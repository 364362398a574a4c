build-tsan/obj/tests/unit/test_shm_ring.o: tests/unit/test_shm_ring.c \
 proto/shm_ring.h proto/ring_layout.h
proto/shm_ring.h:
proto/ring_layout.h:
