#!/bin/sh
# SPDX-License-Identifier: MIT
#
# fetch-src.sh - fetch the Debian source of the installed fio and
# configure it, so that the saferring engine compiles against the very
# headers (and config-host.h) of the fio binary that will load it.
# Debian's fio package ships no headers.
#
#   fio/fetch-src.sh DIR     # leaves DIR/fio-VERSION with config-host.h
#
# Uses a private apt configuration under DIR/apt (its own sources.list
# with a deb-src line, its own lists and cache): it needs no root and
# must never touch the system's apt sources, lists or cache.  apt checks
# the source package against the archive's signed index as usual.
# Knobs: FIO_APT_MIRROR (http://deb.debian.org/debian),
# FIO_APT_SECURITY (http://deb.debian.org/debian-security),
# FIO_APT_SUITE (this system's codename).
set -eu

die() {
	echo "fetch-src: $*" >&2
	exit 1
}

[ $# -eq 1 ] || die "usage: $0 DIR"
DIR=$1

# The installed fio, as Debian packaged it: its exact source version.
command -v fio >/dev/null 2>&1 || die "fio is not installed (make fio-engine installs it)"
DEBVER=$(dpkg-query -W -f='${Version}' fio 2>/dev/null) ||
	die "fio ($(command -v fio)) is not Debian's package: build the engine with FIO_SRC=<its configured source tree>"
UPSTREAM=$(echo "$DEBVER" | sed -e 's/^[0-9]*://' -e 's/-[^-]*$//')
RUNNING=$(fio --version)
[ "$RUNNING" = "fio-$UPSTREAM" ] ||
	die "fio on PATH says $RUNNING but package fio is $DEBVER: which one loads the engine?"
SRC=$DIR/fio-$UPSTREAM

if [ ! -f "$SRC/FIO-VERSION-GEN" ]; then
	command -v dpkg-source >/dev/null 2>&1 ||
		die "dpkg-source is missing (package dpkg-dev; make fio-engine installs it)"
	# shellcheck disable=SC1091  # the system's
	SUITE=${FIO_APT_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-}")}
	[ -n "$SUITE" ] || die "cannot tell the Debian suite; set FIO_APT_SUITE"
	MIRROR=${FIO_APT_MIRROR:-http://deb.debian.org/debian}
	SECURITY=${FIO_APT_SECURITY:-http://deb.debian.org/debian-security}
	APT=$DIR/apt
	mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial"
	# The installed version may come from a point release, -updates
	# or -security: offer all three, apt picks the exact version.
	cat > "$APT/sources.list" <<-EOF
		deb-src $MIRROR $SUITE main
		deb-src $MIRROR $SUITE-updates main
		deb-src $SECURITY $SUITE-security main
	EOF
	set -- -o Dir::Etc::SourceList="$(realpath "$APT/sources.list")" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$(realpath "$APT/lists")" \
		-o Dir::Cache="$(realpath "$APT/cache")"
	echo "fetch-src: fio $DEBVER source from $MIRROR ($SUITE)" >&2
	apt-get "$@" -qq update ||
		die "apt-get update with $APT/sources.list failed"
	# apt-get source unpacks into the current directory.
	(cd "$DIR" && apt-get "$@" -qq source "fio=$DEBVER") ||
		die "apt-get source fio=$DEBVER failed"
	[ -f "$SRC/FIO-VERSION-GEN" ] || die "no $SRC after apt-get source"
fi

# configure as debian/rules does (--disable-native --prefix=/usr), less
# --enable-gfio and --enable-libnbd: they build the GUI and the nbd
# engine and would need their -dev packages, and change no structure an
# engine sees.  Only config-host.h is used.
if [ ! -f "$SRC/config-host.h" ]; then
	echo "fetch-src: configuring $SRC" >&2
	(cd "$SRC" && ./configure --disable-native --prefix=/usr) \
		> "$DIR/configure.log" 2>&1 ||
		{ cat "$DIR/configure.log" >&2; die "configure failed"; }
fi
echo "$SRC"
