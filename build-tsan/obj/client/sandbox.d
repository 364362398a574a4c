build-tsan/obj/client/sandbox.o: client/sandbox.c include/saferring.h
include/saferring.h:
