build-tsan/obj/daemon/config.o: daemon/config.c daemon/config.h \
 daemon/policy.h daemon/fs_table.h
daemon/config.h:
daemon/policy.h:
daemon/fs_table.h:
