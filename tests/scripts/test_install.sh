#!/bin/sh
# make install DESTDIR=... lays out every file, a program built with
# `pkg-config --cflags --libs saferring` against it links and runs against
# a daemon, and make uninstall removes everything it installed.
set -eu
B=${B:-build}
top=$(pwd)
dest=$(mktemp -d)
work=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dest" "$work"
}
trap cleanup EXIT
if ! command -v pkg-config >/dev/null 2>&1; then
	echo "SKIP: pkg-config not installed"
	exit 77
fi
make -s --no-print-directory B="$B" install DESTDIR="$dest" PREFIX=/usr/local >/dev/null
p=$dest/usr/local
fail=0
for f in sbin/saferringd bin/saferring-cp bin/saferringctl bin/saferring-run \
	lib/libsaferring.so.1.0 lib/libsaferring.so.1 lib/libsaferring.so \
	lib/libsaferring.a include/saferring.h lib/pkgconfig/saferring.pc \
	lib/systemd/system/saferringd.service lib/systemd/system/saferringd.socket \
	lib/sysusers.d/saferring.conf lib/tmpfiles.d/saferring.conf \
	share/man/man8/saferringd.8 share/man/man3/libsaferring.3 \
	share/man/man1/saferring-cp.1 share/man/man1/saferring-run.1 \
	share/man/man1/saferringctl.1; do
	if [ ! -e "$p/$f" ]; then
		echo "FAIL: $f not installed"
		fail=1
	fi
done
soname=$(objdump -p "$p/lib/libsaferring.so.1.0" | awk '/SONAME/ { print $2 }')
[ "$soname" = libsaferring.so.1 ] || { echo "FAIL: soname is '$soname'"; fail=1; }
grep -q "ExecStart=/usr/local/sbin/saferringd" "$p/lib/systemd/system/saferringd.service" ||
	{ echo "FAIL: unit ExecStart not substituted"; fail=1; }
# A page for every exported function (some are .so links to the page
# they share), found by man(1) the way a user looks them up.
for name in $(sed -n 's/^[[:space:]]*\(sr_[a-z0-9_]*\);.*/\1/p' client/libsaferring.map); do
	[ -e "$p/share/man/man3/$name.3" ] ||
		{ echo "FAIL: share/man/man3/$name.3 not installed"; fail=1; }
done
if command -v man >/dev/null 2>&1; then
	for name in sr_connect sr_prep_read sr_prep_write sr_wait_cqe sr_sandbox_deny_io_uring; do
		MANPATH="$p/share/man" man -w "$name" >/dev/null 2>&1 ||
			{ echo "FAIL: man -w $name finds nothing in $p/share/man"; fail=1; }
	done
	# sr_prep_write.3 is a .so link: man must follow it to the page.
	MANPATH="$p/share/man" MANWIDTH=80 man -P cat sr_prep_write 2>/dev/null |
		grep -q "sr_prep_read, sr_prep_write" ||
		{ echo "FAIL: man sr_prep_write does not show the page it links to"; fail=1; }
fi
[ $fail = 0 ] || exit 1
echo "ok: layout complete, soname $soname, a man page for every function"

# Another PREFIX right after: the paths written into the pkg-config file
# and the unit must be this install's, not the last build's.
usr=$(mktemp -d)
make -s --no-print-directory B="$B" install DESTDIR="$usr" PREFIX=/usr >/dev/null
grep -qx "prefix=/usr" "$usr/usr/lib/pkgconfig/saferring.pc" &&
grep -q "ExecStart=/usr/sbin/saferringd" "$usr/usr/lib/systemd/system/saferringd.service" ||
	{ echo "FAIL: make install PREFIX=/usr after PREFIX=/usr/local kept /usr/local"; rm -rf "$usr"; exit 1; }
rm -rf "$usr"
echo "ok: make install PREFIX=/usr after PREFIX=/usr/local writes /usr paths"

# Build a client the way an application developer would.
cat > "$work/app.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <saferring.h>
int main(int argc, char **argv)
{
	struct sr_client *c;
	char buf[32] = { 0 };
	int fd = open(argv[2], O_RDONLY), r = sr_connect(argv[1], NULL, &c);
	if (fd < 0 || r < 0) { fprintf(stderr, "connect: %s\n", strerror(-r)); return 1; }
	sr_handle_t h = sr_register_fd(c, fd);
	ssize_t n = sr_handle_index(h) < 0 ? sr_handle_index(h)
					   : sr_pread(c, h, buf, sizeof(buf) - 1, 0);
	if (n < 0) { fprintf(stderr, "pread: %s\n", strerror((int)-n)); return 1; }
	printf("%s", buf);
	sr_close(c);
	return 0;
}
C
export PKG_CONFIG_PATH="$p/lib/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$dest"
# A sanitizer build's library (make check-asan) needs its runtime linked
# into the program first.
san=
if objdump -p "$p/lib/libsaferring.so.1.0" | grep -q 'NEEDED.*libasan'; then
	san="-fsanitize=address,undefined"
fi
# shellcheck disable=SC2046,SC2086
cc $san -o "$work/app" "$work/app.c" $(pkg-config --cflags --libs saferring)
echo "ok: built with: pkg-config --cflags --libs saferring"
# Neither link line asks for libseccomp (loaded by the sandbox call
# alone); the static one adds protobuf-c.
static=$(pkg-config --static --libs saferring)
case " $(pkg-config --libs saferring) $static " in
*seccomp*) echo "FAIL: pkg-config asks for libseccomp: $static"; exit 1 ;;
esac
case " $static " in
*" -lprotobuf-c "*) ;;
*) echo "FAIL: pkg-config --static --libs saferring lacks -lprotobuf-c: $static"; exit 1 ;;
esac
echo "ok: pkg-config --static --libs saferring: $static"
"$p/sbin/saferringd" --foreground --socket "$work/sock" 2>"$work/d.log" &
pid=$!
i=0
while [ ! -S "$work/sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -S "$work/sock" ]; then
	cat "$work/d.log"
	grep -q "cannot create an io_uring" "$work/d.log" && { echo "SKIP: io_uring unavailable"; exit 77; }
	echo "FAIL: installed daemon did not start"
	exit 1
fi
echo "hello through saferring" > "$work/in"
out=$(LD_LIBRARY_PATH="$p/lib" "$work/app" "$work/sock" "$work/in")
[ "$out" = "hello through saferring" ] || { echo "FAIL: app printed '$out'"; exit 1; }
echo "ok: installed library ran against the installed daemon"

make -s --no-print-directory B="$B" uninstall DESTDIR="$dest" PREFIX=/usr/local >/dev/null
left=$(find "$dest" -type f -o -type l)
if [ -n "$left" ]; then
	echo "FAIL: left after uninstall:"
	echo "$left"
	exit 1
fi
echo "ok: uninstall removed every file"
