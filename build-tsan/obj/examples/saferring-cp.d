build-tsan/obj/examples/saferring-cp.o: examples/saferring-cp.c \
 include/saferring.h
include/saferring.h:
