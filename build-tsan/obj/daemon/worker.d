build-tsan/obj/daemon/worker.o: daemon/worker.c daemon/worker.h \
 daemon/session.h daemon/offload.h daemon/policy.h include/saferring.h \
 daemon/stats.h daemon/log.h proto/spin.h
daemon/worker.h:
daemon/session.h:
daemon/offload.h:
daemon/policy.h:
include/saferring.h:
daemon/stats.h:
daemon/log.h:
proto/spin.h:
