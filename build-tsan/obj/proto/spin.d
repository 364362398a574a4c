build-tsan/obj/proto/spin.o: proto/spin.c proto/spin.h
proto/spin.h:
