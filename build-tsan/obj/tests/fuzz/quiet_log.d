build-tsan/obj/tests/fuzz/quiet_log.o: tests/fuzz/quiet_log.c \
 daemon/log.h
daemon/log.h:
