build-tsan/obj/daemon/server.o: daemon/server.c daemon/server.h \
 daemon/config.h daemon/policy.h daemon/log.h daemon/peer.h \
 include/saferring.h daemon/session.h daemon/offload.h daemon/worker.h \
 daemon/stats.h
daemon/server.h:
daemon/config.h:
daemon/policy.h:
daemon/log.h:
daemon/peer.h:
include/saferring.h:
daemon/session.h:
daemon/offload.h:
daemon/worker.h:
daemon/stats.h:
