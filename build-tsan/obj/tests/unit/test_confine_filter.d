build-tsan/obj/tests/unit/test_confine_filter.o: \
 tests/unit/test_confine_filter.c daemon/confine.h \
 tests/unit/../lib/child.h
daemon/confine.h:
tests/unit/../lib/child.h:
