build-tsan/obj/tests/unit/test_classifier.o: tests/unit/test_classifier.c \
 daemon/admission.h daemon/fs_table.h
daemon/admission.h:
daemon/fs_table.h:
