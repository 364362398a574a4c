build-tsan/obj/daemon/slot_table.o: daemon/slot_table.c \
 daemon/slot_table.h
daemon/slot_table.h:
