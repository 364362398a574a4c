build-tsan/obj/examples/saferring-echo.o: examples/saferring-echo.c \
 include/saferring.h
include/saferring.h:
