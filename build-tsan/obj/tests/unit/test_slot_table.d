build-tsan/obj/tests/unit/test_slot_table.o: tests/unit/test_slot_table.c \
 daemon/slot_table.h
daemon/slot_table.h:
