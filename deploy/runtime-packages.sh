#!/usr/bin/env bash
# The Debian packages holding the shared libraries BINARY links directly (its
# ELF NEEDED entries, resolved as the dynamic loader resolves them), one per
# line. apt brings what those need in turn. deploy/Dockerfile installs exactly
# these in its runtime stage, so the image's list cannot fall behind the
# build's. Fails naming a library no installed package holds.
#
#   deploy/runtime-packages.sh BINARY
set -euo pipefail
binary=${1:?usage: runtime-packages.sh BINARY}
[[ -x $binary ]] || { echo "runtime-packages: no executable at $binary" >&2; exit 1; }
declare -A where
while read -r name _ path _; do where[$name]=$path; done < <(ldd "$binary" | awk '$2 == "=>"')
packages=()
while read -r lib; do
  path=${where[$lib]:-}
  [[ -n $path && $path != "not" ]] || { echo "runtime-packages: $binary needs $lib, which the loader does not find" >&2; exit 1; }
  # dpkg knows a library by the path its package installed; with a merged /usr
  # the loader may name the other one of /lib/... and /usr/lib/...
  owner=
  for candidate in "$path" "/usr$path" "${path#/usr}" "$(readlink -f "$path")"; do
    owner=$(dpkg-query -S "$candidate" 2>/dev/null | head -1 | cut -d: -f1) && [[ -n $owner ]] && break
  done
  [[ -n $owner ]] || { echo "runtime-packages: no installed package holds $path ($lib)" >&2; exit 1; }
  packages+=("$owner")
done < <(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
printf '%s\n' "${packages[@]}" | sort -u
