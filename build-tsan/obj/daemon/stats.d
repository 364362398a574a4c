build-tsan/obj/daemon/stats.o: daemon/stats.c daemon/stats.h \
 daemon/session.h daemon/offload.h daemon/policy.h include/saferring.h \
 build-tsan/gen/saferring.pb-c.h
daemon/stats.h:
daemon/session.h:
daemon/offload.h:
daemon/policy.h:
include/saferring.h:
build-tsan/gen/saferring.pb-c.h:
