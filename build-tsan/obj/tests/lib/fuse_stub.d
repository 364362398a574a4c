build-tsan/obj/tests/lib/fuse_stub.o: tests/lib/fuse_stub.c \
 tests/lib/fuse_stub.h tests/lib/child.h
tests/lib/fuse_stub.h:
tests/lib/child.h:
