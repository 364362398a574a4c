build-tsan/obj/daemon/privdrop.o: daemon/privdrop.c daemon/privdrop.h
daemon/privdrop.h:
