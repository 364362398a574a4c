build-tsan/obj/daemon/fd_registry.o: daemon/fd_registry.c \
 daemon/fd_registry.h
daemon/fd_registry.h:
