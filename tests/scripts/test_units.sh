#!/bin/sh
# The systemd units verify cleanly and the service's sandboxing rates at
# most 1.0 in `systemd-analyze security --offline=true`.
set -eu
B=${B:-build}
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP: systemd-analyze not installed"
	exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# ExecStart must name an existing binary for verify: point it at the build.
sed -e "s|@SBINDIR@|$(cd "$B/sbin" && pwd)|" systemd/saferringd.service.in \
	> "$dir/saferringd.service"
cp systemd/saferringd.socket "$dir/"
(cd "$dir" && systemd-analyze verify --man=no ./saferringd.socket ./saferringd.service) \
	> "$dir/verify.log" 2>&1 || { cat "$dir/verify.log"; echo "FAIL: verify"; exit 1; }
if [ -s "$dir/verify.log" ]; then
	cat "$dir/verify.log"
	echo "FAIL: systemd-analyze verify printed warnings"
	exit 1
fi
echo "ok: systemd-analyze verify is clean"
score=$(cd "$dir" && systemd-analyze security --offline=true ./saferringd.service 2>&1 |
	sed -n 's/.*Overall exposure level for saferringd.service: \([0-9.]*\).*/\1/p')
if [ -z "$score" ]; then
	echo "FAIL: no exposure score in systemd-analyze security output"
	exit 1
fi
echo "exposure score: $score (limit 1.0)"
awk -v s="$score" 'BEGIN { exit !(s <= 1.0) }' || { echo "FAIL: score above 1.0"; exit 1; }
echo "ok: score at most 1.0"
