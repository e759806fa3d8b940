#!/usr/bin/env bash
# The ctest entries for deploy/: each checks one kind of shipped file with the
# tool that reads it. Exit 77 (ctest SKIP_RETURN_CODE) when that tool is missing.
#
#   run-check.sh rules | rules-test | dashboards | kubernetes | systemd TRACER_BINARY | dockerfile TRACER_BINARY
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)

need() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || {
      echo "SKIP: $tool is not installed (scripts/install-deps.sh --test)"
      exit 77
    }
  done
}

case "${1:-}" in
rules)
  need promtool
  promtool check rules "$src"/deploy/monitoring/*.rules.yml
  ;;
rules-test)
  need promtool
  promtool test rules "$src"/deploy/monitoring/tests/*.test.yml
  ;;
dashboards)
  need node promtool
  node "$src/tests/deploy/monitoring/check-dashboards.mjs" "$src/deploy/monitoring/dashboards" "$(command -v promtool)"
  ;;
dockerfile)
  # deploy/Dockerfile cannot be built here (it pulls debian:bookworm): check
  # that its runtime stage's package list, made from the binary, names real
  # packages holding every library the binary links, and that it is used.
  binary=${2:?usage: run-check.sh dockerfile TRACER_BINARY}
  need readelf dpkg-query apt-cache
  packages=$("$src/deploy/runtime-packages.sh" "$binary")
  echo "runtime packages: $(echo $packages)"
  apt-cache show $packages >/dev/null
  files=$(dpkg-query -L $packages)
  for lib in $(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
    grep -q "/$lib\$" <<<"$files" || { echo "no runtime package holds $lib" >&2; exit 1; }
  done
  grep -q 'runtime-packages.sh /build/tracer > /build/runtime-packages' "$src/deploy/Dockerfile"
  grep -q 'xargs -a /tmp/runtime-packages apt-get install' "$src/deploy/Dockerfile"
  ;;
kubernetes)
  need node npm
  cd "$src/tests/deploy/kubernetes"
  # node_modules (not committed) is installed from the committed lockfile,
  # again only when the lockfile changed.
  if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
  node validate.mjs "$src/deploy/kubernetes"
  node --test validate.test.mjs
  ;;
systemd)
  need systemd-analyze
  binary=${2:?the tracer binary}
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # The unit as shipped, with ExecStart pointing at this build (verify wants
  # an executable there).
  sed "s|^ExecStart=/usr/local/bin/tracer |ExecStart=$binary |" "$src/deploy/systemd/tracer.service" >"$tmp/tracer.service"
  grep -q "^ExecStart=$binary " "$tmp/tracer.service" || { echo "no ExecStart=/usr/local/bin/tracer line in the unit"; exit 1; }
  out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$tmp/tracer.service" 2>&1) || { echo "$out"; exit 1; }
  # verify exits 0 on some warnings: any line about our unit is a failure.
  if grep -q "tracer.service" <<<"$out"; then
    echo "$out"
    exit 1
  fi
  echo "systemd-analyze verify: tracer.service OK"
  ;;
*)
  echo "usage: $0 rules|rules-test|dashboards|kubernetes|systemd [TRACER_BINARY]" >&2
  exit 2
  ;;
esac
