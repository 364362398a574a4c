build-tsan/obj/tests/unit/test_peer.o: tests/unit/test_peer.c \
 daemon/peer.h
daemon/peer.h:
