build-tsan/obj/tests/fuzz/fake_offload.o: tests/fuzz/fake_offload.c \
 daemon/offload.h
daemon/offload.h:
