build-tsan/obj/proto/wire.o: proto/wire.c proto/wire.h
proto/wire.h:
