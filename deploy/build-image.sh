#!/usr/bin/env bash
# Builds the tracer image from a binary built on this machine, without a
# registry or a base image: a root filesystem with the binary, the shared
# libraries it links (found with ldd), CA certificates for HTTPS sinks and the
# directories the agent uses, imported with `docker import`.
#
#   deploy/build-image.sh [BINARY] [TAG]     default: build/tracer tracer:<version>
#
# DOCKER_HOST selects the engine as for the docker CLI; IMAGE_CLI replaces the
# CLI itself (e.g. IMAGE_CLI="podman" or "podman --url unix:///run/podman.sock"). deploy/Dockerfile
# builds the same image from source on a machine that can pull debian:bookworm.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
binary=${1:-$src/build/tracer}
[[ -x $binary ]] || { echo "build-image: no tracer binary at $binary (cmake --build build --target tracer)" >&2; exit 1; }
version=$("$binary" version | awk '{print $2; exit}')
tag=${2:-tracer:${version:-latest}}

rootfs=$(mktemp -d /tmp/tracer-image.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
install -D -m 0755 "$binary" "$rootfs/usr/bin/tracer"
# Every shared library and the dynamic loader, at the paths the binary asks for.
while read -r lib; do
  install -D -m 0644 "$(readlink -f "$lib")" "$rootfs$lib"
done < <(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
chmod 0755 "$rootfs"/lib*/ld-linux* "$rootfs"/lib64/ld-linux* 2>/dev/null || true
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
  install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
fi
install -D -m 0644 "$src/conf.d/tracer.yaml" "$rootfs/etc/tracer/tracer.yaml"
mkdir -p "$rootfs"/{proc,sys,dev,tmp,host,run/tracer,var/lib/tracer,etc/tracer/conf.d}
chmod 1777 "$rootfs/tmp"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\n' >"$rootfs/etc/group"
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"

# The binary must start in its new root with nothing else: a missing library fails here, not in a cluster.
if command -v chroot >/dev/null && [[ $(id -u) == 0 ]]; then
  chroot "$rootfs" /usr/bin/tracer version >/dev/null || { echo "build-image: tracer does not start in the image's root" >&2; exit 1; }
fi

tar -C "$rootfs" --numeric-owner -cf "$rootfs.tar" .
trap 'rm -rf "$rootfs" "$rootfs.tar"' EXIT
read -r -a cli <<<"${IMAGE_CLI:-docker}"
"${cli[@]}" import \
  -c 'ENTRYPOINT ["/usr/bin/tracer"]' \
  -c 'CMD ["run", "--config", "/etc/tracer/tracer.yaml"]' \
  -c 'EXPOSE 9464/tcp' -c 'EXPOSE 8125/udp' \
  -c "LABEL org.opencontainers.image.title=tracer org.opencontainers.image.version=${version}" \
  "$rootfs.tar" "$tag" >/dev/null
echo "$tag"
