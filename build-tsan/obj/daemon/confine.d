build-tsan/obj/daemon/confine.o: daemon/confine.c daemon/confine.h
daemon/confine.h:
