#!/usr/bin/env bash
# Installs what building (and, with --test, testing and benchmarking) tracer
# needs on Debian bookworm, as root: only the packages that are missing, so a
# second run is instant. Also mounts tracefs and bpffs where they are missing
# (tracer itself needs neither; libbpf-tools in the benchmarks need tracefs).
#
#   scripts/install-deps.sh          build + run
#   scripts/install-deps.sh --test   also tests and benchmarks
#   scripts/install-deps.sh --vmtest also what vmtest/run.sh needs (QEMU, a
#                                    static busybox; combinable with --test)
set -euo pipefail

want=(
  cmake make g++ pkg-config            # C++ toolchain
  clang llvm bpftool libbpf-dev        # BPF programs -> skeletons (CO-RE, BTF)
  linux-libc-dev libelf-dev zlib1g-dev libzstd-dev
  libcli11-dev libyaml-cpp-dev libcpp-httplib-dev
  libcurl4-openssl-dev libsnappy-dev   # forwarder: HTTP sinks, remote write compression
  nlohmann-json3-dev                   # Docker Engine API client: its JSON
  libre2-dev                           # config patterns matched against outside input
  libhiredis-dev libmemcached-dev      # plugins: the redis and memcached client libraries
  libpq-dev libmariadb-dev             # plugins: the postgres and mysql/MariaDB client libraries
  libncurses-dev                       # tracer top: the interactive screen
)
if [[ " $* " == *" --vmtest "* ]]; then
  want+=(
    qemu-system-x86 busybox-static     # vmtest: boots Debian kernels with a busybox initramfs
    cpio xz-utils zstd binutils        # builds the initramfs, unpacks the kernels
    debian-archive-keyring             # verifies the kernel packages it downloads
    iproute2 nftables                  # the guests' network tests: namespaces, a veth pair, loss
  )
fi
if [[ " $* " == *" --test "* ]]; then
  want+=(
    libgtest-dev                       # GoogleTest
    libbpf-tools                       # syscount: the benchmark's baseline
    curl iproute2                      # used by tests and benchmarks
    tmux                               # tracer top's end-to-end test: a real terminal
    victoria-metrics                   # the forwarder's real backend in tests and its benchmark
    openssl                            # the forwarder's TLS test makes a certificate
    nftables                           # network tests: packet loss on a veth (numgen random)
    docker.io busybox-static           # the docker e2e suite: a real dockerd, an imported image
    podman                             # ... and podman's Docker-compatible API
    libclang-rt-14-dev                 # libFuzzer: the parsers' fuzz tests
    systemd                            # systemd-analyze verify of the shipped unit
    redis-server memcached nginx-light # the plugins' real servers in tests
    apache2 haproxy php-fpm            # ... and those of the server plugins
    mariadb-server postgresql
    redis-tools wrk                    # bench_app_overhead: redis-benchmark and the HTTP load
    prometheus                         # promtool and a real Prometheus scraping the agent (e2e)
  )
  # The Kubernetes manifests are validated with an npm package under node; a
  # node that ships its own npm (e.g. NodeSource's) conflicts with Debian's.
  command -v npm >/dev/null || want+=(nodejs npm)
fi

if [[ $(id -u) != 0 ]]; then
  echo "install-deps: run as root (it installs packages and mounts tracefs)" >&2
  exit 1
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/tracer-apt.log 2>&1; then
    apt-get update -q >>/tmp/tracer-apt.log 2>&1
    apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/tracer-apt.log 2>&1 || {
      tail -n 20 /tmp/tracer-apt.log >&2
      echo "install-deps: apt-get install failed (full log: /tmp/tracer-apt.log)" >&2
      exit 1
    }
  fi
fi

mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null ||
  echo "install-deps: could not mount tracefs at /sys/kernel/tracing (only the benchmarks' syscount needs it)" >&2
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
exit 0
