build-tsan/obj/daemon/peer.o: daemon/peer.c daemon/peer.h
daemon/peer.h:
