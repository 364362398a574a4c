build-tsan/obj/daemon/admission.o: daemon/admission.c daemon/admission.h \
 daemon/fs_table.h
daemon/admission.h:
daemon/fs_table.h:
