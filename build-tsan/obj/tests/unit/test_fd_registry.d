build-tsan/obj/tests/unit/test_fd_registry.o: \
 tests/unit/test_fd_registry.c daemon/fd_registry.h
daemon/fd_registry.h:
