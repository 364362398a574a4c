build-tsan/obj/tests/unit/test_spin.o: tests/unit/test_spin.c \
 proto/spin.h
proto/spin.h:
