build-tsan/obj/uring/cq.o: uring/cq.c uring/facade.h include/saferring.h \
 uring/include/saferring-uring/liburing.h \
 uring/include/saferring-uring/liburing/compat.h \
 uring/include/saferring-uring/liburing/io_uring.h \
 uring/include/saferring-uring/liburing/barrier.h
uring/facade.h:
include/saferring.h:
uring/include/saferring-uring/liburing.h:
uring/include/saferring-uring/liburing/compat.h:
uring/include/saferring-uring/liburing/io_uring.h:
uring/include/saferring-uring/liburing/barrier.h:
