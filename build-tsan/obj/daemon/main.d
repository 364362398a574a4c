build-tsan/obj/daemon/main.o: daemon/main.c daemon/config.h \
 daemon/policy.h daemon/confine.h daemon/log.h daemon/privdrop.h \
 daemon/ring.h include/saferring.h daemon/server.h
daemon/config.h:
daemon/policy.h:
daemon/confine.h:
daemon/log.h:
daemon/privdrop.h:
daemon/ring.h:
include/saferring.h:
daemon/server.h:
