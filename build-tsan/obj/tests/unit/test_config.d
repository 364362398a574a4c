build-tsan/obj/tests/unit/test_config.o: tests/unit/test_config.c \
 daemon/config.h daemon/policy.h daemon/fs_table.h daemon/policy.h \
 include/saferring.h
daemon/config.h:
daemon/policy.h:
daemon/fs_table.h:
daemon/policy.h:
include/saferring.h:
