build-tsan/obj/proto/shm_ring.o: proto/shm_ring.c proto/shm_ring.h \
 proto/ring_layout.h
proto/shm_ring.h:
proto/ring_layout.h:
