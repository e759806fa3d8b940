#!/bin/busybox sh
# /init of a vmtest guest (busybox; /bin/sh is bash for the tests). Mounts what tracer needs, sets up
# the cgroup layout named on the kernel command line (vmtest.layout=v1|v2|
# hybrid), prints the kernel's features, runs the BPF test binary and a
# `tracer run` smoke test, and reports each step on the console:
#   VMTEST_STEP <name> rc=<n>      one per step
#   VMTEST_RESULT rc=<n>           last line: 0 when every step passed
# then powers the guest off. vmtest/run.sh reads those markers.
/bin/busybox --install -s /bin
export PATH=/vmtest/tools:/bin:/sbin
LD_LIBRARY_PATH=$(cat /vmtest/ld_library_path)
export LD_LIBRARY_PATH
export HOME=/tmp

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t bpf bpf /sys/fs/bpf || echo "vmtest-guest: cannot mount bpffs"
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
# where `ip netns add` keeps its namespaces
mkdir -p /run /var && ln -s /run /var/run

LAYOUT=$(sed -n 's/.*vmtest\.layout=\([a-z0-9]*\).*/\1/p' /proc/cmdline)
FAILED=0
step() {  # step NAME RC
	echo "VMTEST_STEP $1 rc=$2"
	[ "$2" = 0 ] || FAILED=1
}

# v1 controllers the kernel has, each in its own hierarchy (as most distros
# mount them), under a tmpfs at /sys/fs/cgroup.
mount_v1() {
	mount -t tmpfs cgroup_root /sys/fs/cgroup
	for c in $(awk 'NR > 1 && $4 == 1 { print $1 }' /proc/cgroups); do
		mkdir -p "/sys/fs/cgroup/$c"
		mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" 2>/dev/null || rmdir "/sys/fs/cgroup/$c"
	done
}
# As a v2 init system does: child cgroups get every controller (memory.max
# for the OOM tests, ...).
enable_v2_controllers() {
	for c in $(cat "$1/cgroup.controllers"); do
		echo "+$c" > "$1/cgroup.subtree_control" || echo "vmtest-guest: cannot enable $c in $1"
	done
}
case "$LAYOUT" in
	v2) mount -t cgroup2 cgroup2 /sys/fs/cgroup && enable_v2_controllers /sys/fs/cgroup; rc=$? ;;
	v1) mount_v1; rc=$? ;;
	hybrid) mount_v1 && mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified; rc=$? ;;
	*) echo "vmtest-guest: unknown layout '$LAYOUT'"; rc=1 ;;
esac
echo "vmtest-guest: Linux $(uname -r), cgroup layout $LAYOUT:"
grep cgroup /proc/mounts | sed 's/^/vmtest-guest:   /'
step cgroup-layout $rc

# This kernel's modules the network tests need (veth, nftables), in load order.
if [ -f /vmtest/modules/order ]; then
	rc=0
	for m in $(cat /vmtest/modules/order); do
		insmod "/vmtest/modules/$m.ko" || { echo "vmtest-guest: cannot load module $m"; rc=1; }
	done
	step modules $rc
fi

if [ -x /vmtest/bin/tracer ]; then
	echo "VMTEST_FEATURES_BEGIN"
	/vmtest/bin/tracer version --features
	echo "VMTEST_FEATURES_END"
fi

cd /tmp || exit
for t in /vmtest/bin/*_tests; do
	[ -x "$t" ] || continue
	name=${t##*/}
	echo "vmtest-guest: running $name $(cat /vmtest/gtest_args)"
	# shellcheck disable=SC2046 # the arguments are words on purpose
	"$t" --gtest_color=no $(cat /vmtest/gtest_args)
	step "$name" $?
done

# The guest's own cgroup, in every mounted hierarchy, with a light workload
# (the guest runs on one emulation thread: no busy loop).
cgroup_dirs() {
	awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/mounts
}
start_workload() {
	for d in $(cgroup_dirs); do mkdir -p "$d/vmtest-smoke"; done
	# shellcheck disable=SC2046 # one argument per hierarchy
	sh -c 'for d in "$@"; do echo $$ > "$d/vmtest-smoke/cgroup.procs"; done
	       exec sh -c "while :; do cat /proc/uptime > /dev/null; sleep 0.2; done"' sh $(cgroup_dirs) &
	WORKLOAD=$!
}

# An 8 MiB HTTP download over loopback, busybox httpd serving and wget
# fetching, both in the guest's cgroup.
net_transfer() {
	mkdir -p /tmp/www && dd if=/dev/zero of=/tmp/www/blob bs=65536 count=128 2>/dev/null
	# shellcheck disable=SC2046 # one argument per hierarchy
	sh -c 'for d in "$@"; do echo $$ > "$d/vmtest-smoke/cgroup.procs"; done
	       httpd -f -p 127.0.0.1:8088 -h /tmp/www & h=$!
	       sleep 0.5
	       wget -q -O /dev/null http://127.0.0.1:8088/blob; rc=$?
	       kill $h; exit $rc' sh $(cgroup_dirs)
}

# Where the network probe is up, both ends of net_transfer must be counted:
# at least the 8 MiB each way in the guest's cgroup.
net_counted() {
	grep -q '^tracer_probe_up{probe="net"} 1' "$1" || return 0
	for dir in tx rx; do
		awk -v s="tracer_net_bytes_total{cgroup=\"/vmtest-smoke\",direction=\"$dir\"}" \
			'$1 == s && $2 >= 8388608 { found = 1 } END { exit !found }' "$1" || return 1
	done
}

# smoke NAME PORT [tracer run flags]: two intervals, then /metrics must name
# the guest's cgroup; SIGTERM must end it with status 0. (Not SIGINT: a
# non-interactive shell starts background commands with SIGINT ignored.)
# With NET_CHECK=1, an 8 MiB loopback transfer after those intervals must be
# counted two intervals later.
smoke() {
	name=$1 port=$2
	shift 2
	log=/tmp/$name.log
	: > "$log"
	/vmtest/bin/tracer run --interval 1 --metrics-addr "127.0.0.1:$port" "$@" > "$log" 2>&1 &
	pid=$!
	ok=1 i=0
	while [ "$(grep -c 'top cgroups by syscalls/s' "$log")" -lt 2 ]; do
		i=$((i + 1))
		if [ $i -gt 240 ] || ! kill -0 $pid 2>/dev/null; then ok=0; break; fi
		sleep 0.5
	done
	if [ $ok = 1 ] && [ "${NET_CHECK:-0}" = 1 ]; then
		net_transfer || { echo "vmtest-guest: $name: the loopback transfer failed"; ok=0; }
		while [ "$(grep -c 'top cgroups by syscalls/s' "$log")" -lt 4 ]; do
			i=$((i + 1))
			if [ $i -gt 240 ] || ! kill -0 $pid 2>/dev/null; then ok=0; break; fi
			sleep 0.5
		done
	fi
	if [ $ok = 1 ]; then
		wget -q -O "/tmp/$name.metrics" "http://127.0.0.1:$port/metrics" || ok=0
		grep -q '^tracer_syscalls_total{cgroup="/vmtest-smoke",' "/tmp/$name.metrics" || ok=0
		if [ "${NET_CHECK:-0}" = 1 ] && ! net_counted "/tmp/$name.metrics"; then
			echo "vmtest-guest: $name: FAILED: the 8 MiB loopback transfer is not in tracer_net_bytes_total"
			grep -E '^tracer_net_(bytes|unattributed)' "/tmp/$name.metrics" | head -20 | sed "s/^/vmtest-guest: $name:   /"
			ok=0
		fi
	fi
	kill -TERM $pid 2>/dev/null
	# a tracer that does not stop is a failure, not a hung guest
	(sleep 30 && kill -KILL $pid 2>/dev/null && echo "vmtest-guest: $name: tracer ignored SIGTERM for 30 s: killed") &
	watchdog=$!
	wait $pid
	rc=$?
	kill $watchdog 2>/dev/null
	[ $ok = 1 ] && [ $rc = 0 ] || ok=0
	sed "s/^/vmtest-guest: $name: /" "$log"
	if [ $ok = 1 ]; then
		echo "vmtest-guest: $name: /metrics after two intervals:"
		grep -c '' "/tmp/$name.metrics" | sed "s/^/vmtest-guest: $name:   lines: /"
		grep -E '^tracer_syscalls_total\{cgroup="/vmtest-smoke",|^tracer_net_bytes_total\{cgroup="/vmtest-smoke",' \
			"/tmp/$name.metrics" | head -5 | sed "s/^/vmtest-guest: $name:   /"
	else
		echo "vmtest-guest: $name: FAILED (exit $rc; no tracer_syscalls_total for cgroup=\"/vmtest-smoke\" after two intervals)"
		[ -f "/tmp/$name.metrics" ] && grep -E '^tracer_(syscalls_total|probe_up|cgroup)' "/tmp/$name.metrics" | head -20 |
			sed "s/^/vmtest-guest: $name:   /"
		grep -h . /proc/self/cgroup $(cgroup_dirs | sed 's|$|/vmtest-smoke/cgroup.procs|') 2>&1 | sed "s/^/vmtest-guest: $name:   /"
	fi
	[ $ok = 1 ]
}

if [ -x /vmtest/bin/tracer ]; then
	start_workload
	NET_CHECK=1 smoke smoke 9464
	step smoke $?

	# Without kernel BTF: one clear error naming the fix; the agent runs on
	# without its kernel areas (degraded mode) and stops on SIGTERM with 0.
	# Then --btf PATH works.
	cp /sys/kernel/btf/vmlinux /tmp/vmlinux.btf
	mount -t tmpfs nobtf /sys/kernel/btf
	/vmtest/bin/tracer run --interval 1 --metrics-addr "127.0.0.1:9466" > /tmp/nobtf.log 2>&1 &
	pid=$!
	i=0
	while ! grep -q 'CONFIG_DEBUG_INFO_BTF' /tmp/nobtf.log && [ $i -lt 120 ] && kill -0 $pid 2>/dev/null; do
		i=$((i + 1))
		sleep 0.5
	done
	sleep 2
	wget -q -O /tmp/nobtf.metrics http://127.0.0.1:9466/metrics
	kill -TERM $pid 2>/dev/null
	(sleep 30 && kill -KILL $pid 2>/dev/null) &
	watchdog=$!
	wait $pid
	rc=$?
	kill $watchdog 2>/dev/null
	sed 's/^/vmtest-guest: no-btf: /' /tmp/nobtf.log
	grep '^tracer_probe_up' /tmp/nobtf.metrics 2>/dev/null | sed 's/^/vmtest-guest: no-btf:   /'
	[ $rc = 0 ] && grep -q 'CONFIG_DEBUG_INFO_BTF' /tmp/nobtf.log && grep -q -- '--btf PATH' /tmp/nobtf.log &&
		grep -q '^tracer_probe_up{probe="syscalls"} 0' /tmp/nobtf.metrics
	step no-btf-degraded $?
	smoke btf-file 9465 --btf /tmp/vmlinux.btf
	step btf-file $?
	umount /sys/kernel/btf
	kill $WORKLOAD 2>/dev/null
fi

echo "VMTEST_RESULT rc=$FAILED"
sync
poweroff -f
echo o > /proc/sysrq-trigger
sleep 10
