build-tsan/obj/tools/saferring-run.o: tools/saferring-run.c \
 include/saferring.h
include/saferring.h:
