build-tsan/obj/daemon/arena.o: daemon/arena.c daemon/arena.h
daemon/arena.h:
