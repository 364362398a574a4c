build-tsan/obj/daemon/offload.o: daemon/offload.c daemon/offload.h
daemon/offload.h:
