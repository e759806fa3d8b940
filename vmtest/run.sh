#!/usr/bin/env bash
# vmtest/run.sh [SERIES[:LAYOUT]...]
#
# Boots Debian kernels under QEMU and runs tracer's BPF tests and a `tracer run`
# smoke test inside each (see docs/compatibility.md).
#
#   SERIES  a kernel series Debian ships: 5.10, 6.1, 6.12, 7.3, ... or `newest`
#           (the newest series in the suites below). Default: 5.10 6.1 newest.
#   LAYOUT  the guest's cgroup mounts: v1 (controllers only), v2 (cgroup2 only)
#           or hybrid (both, cgroup2 at /sys/fs/cgroup/unified).
#           Default: v1 for 5.x kernels, v2 from 6.x on.
#
# For each kernel: the newest linux-image (7.x: linux-binary) package of the
# series is fetched with apt-get download from deb.debian.org into a private
# apt state (never installed; /etc/apt untouched), its vmlinuz unpacked; one
# busybox initramfs carries vmtest/guest-init.sh, every *_tests binary and
# `tracer` from BUILD_DIR, iproute2's `ip`, `nft`, bash as /bin/sh and every
# shared library `ldd` lists for them; each kernel's guest also gets the
# modules the network tests need (veth, nftables), from that kernel's package.
#
# Exit status: 0 every kernel passed; 1 a kernel failed (named, with its last
# console lines); 77 SKIPPED: something needed could not be had (QEMU, busybox,
# the kernel packages, the build) and nothing failed; 2 bad usage.
#
# Environment:
#   BUILD_DIR        the build to test (default: build)
#   VMTEST_CACHE     downloaded packages, apt lists, unpacked kernels
#                    (default: ${XDG_CACHE_HOME:-~/.cache}/tracer-vmtest)
#   VMTEST_OUT       console logs (default: $BUILD_DIR/vmtest)
#   VMTEST_MIRROR    Debian mirror (default: http://deb.debian.org)
#   VMTEST_ACCEL     auto | kvm | tcg (auto: KVM only where it works, else TCG)
#   VMTEST_TIMEOUT   seconds per guest (default 420; a guest normally needs 70-200 under TCG)
#   VMTEST_MEM, VMTEST_SMP   guest RAM and vCPUs (default 1G, 2)
#   VMTEST_GTEST_ARGS        extra arguments for the test binaries (e.g. --gtest_filter=...)
#   VMTEST_KERNEL_ARGS       extra kernel command line (e.g. preempt=none)
#   VMTEST_VERBOSE=1         stream every guest's console
set -euo pipefail

SKIP=77
here=$(cd "$(dirname "$0")" && pwd)
BUILD_DIR=$(realpath -m "${BUILD_DIR:-build}")
CACHE=${VMTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tracer-vmtest}
OUT=${VMTEST_OUT:-$BUILD_DIR/vmtest}
MIRROR=${VMTEST_MIRROR:-http://deb.debian.org}
TIMEOUT=${VMTEST_TIMEOUT:-420}
MEM=${VMTEST_MEM:-1G}
SMP=${VMTEST_SMP:-2}

say() { echo "vmtest: $*" >&2; }
skip() {  # skip WHY [WHAT-WAS-TESTED]
  {
    echo "vmtest: ================================================================"
    echo "vmtest: SKIPPED: $1"
    echo "vmtest: ${2:-no kernel was booted; nothing was tested here}"
    echo "vmtest: ================================================================"
  } >&2
  exit $SKIP
}

case "${1:-}" in -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
specs=("$@")
((${#specs[@]})) || specs=(5.10 6.1 newest)
for s in "${specs[@]}"; do
  [[ $s =~ ^([0-9]+\.[0-9]+|newest)(:(v1|v2|hybrid))?$ ]] || { say "bad kernel '$s' (want SERIES[:v1|v2|hybrid], e.g. 5.10 or 6.1:hybrid or newest)"; exit 2; }
done

# ------------------------------------------------------------ what we need ---
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not found (apt-get install qemu-system-x86, or scripts/install-deps.sh --vmtest)"
busybox=$(command -v busybox || true)
command -v readelf >/dev/null || skip "readelf not found (apt-get install binutils)"
[[ -n $busybox ]] && ! readelf -l "$busybox" 2>/dev/null | grep 'program interpreter' >/dev/null ||
  skip "no static busybox for the guest (apt-get install busybox-static, or scripts/install-deps.sh --vmtest)"
for tool in apt-get dpkg-deb cpio ldd objcopy readelf xz zstd; do
  command -v $tool >/dev/null || skip "$tool not found (scripts/install-deps.sh --vmtest installs what vmtest needs)"
done
bins=()
while IFS= read -r b; do bins+=("$b"); done < <(find "$BUILD_DIR" -maxdepth 2 -type f -perm -u+x \
  \( -name tracer -o -name 'tracer_bpf*_tests' \) 2>/dev/null | sort)
((${#bins[@]})) || skip "no tracer binaries in BUILD_DIR=$BUILD_DIR (build first: cmake --build $BUILD_DIR)"

mkdir -p "$CACHE/apt/lists/partial" "$CACHE/apt/archives/partial" "$CACHE/debs" "$CACHE/kernels" "$OUT"

# ------------------------------------------------------------ kernels -------
# A private apt state: our own sources, lists and cache; the host's apt
# configuration and its installed-package database are never touched.
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
{
  for suite in bullseye bookworm bookworm-updates bookworm-backports trixie trixie-updates trixie-backports; do
    echo "deb [signed-by=$keyring] $MIRROR/debian $suite main"
  done
  for suite in bullseye-security bookworm-security trixie-security; do
    echo "deb [signed-by=$keyring] $MIRROR/debian-security $suite main"
  done
} > "$CACHE/apt/sources.list"
APT_OPTS=(-o "Dir::Etc::SourceList=$CACHE/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$CACHE/apt/lists" -o "Dir::Cache=$CACHE/apt"
  -o Dir::State::status=/dev/null -o APT::Architecture=amd64
  -o Debug::NoLocking=1 -o APT::Sandbox::User="$(id -un)" -o Acquire::Retries=2)

refresh_lists() {
  say "updating the package lists of the Debian suites that ship kernels (bullseye .. trixie-backports)"
  apt-get "${APT_OPTS[@]}" -q --error-on=any update > "$CACHE/apt/update.log" 2>&1
}
lists_age=$(( $(date +%s) - $(stat -c %Y "$CACHE/apt/lists/stamp" 2>/dev/null || echo 0) ))
if (( lists_age > 86400 )); then
  if refresh_lists; then
    touch "$CACHE/apt/lists/stamp"
  else
    tail -n 5 "$CACHE/apt/update.log" >&2
    ls "$CACHE"/apt/lists/*Packages* >/dev/null 2>&1 ||
      skip "cannot reach the Debian archive at $MIRROR for kernel packages (log: $CACHE/apt/update.log)"
    say "WARNING: apt-get update failed; using the package lists cached in $CACHE/apt/lists"
  fi
fi

# Kernel image packages with a downloadable version, as "series package" lines.
kernel_packages() {
  apt-cache "${APT_OPTS[@]}" pkgnames linux-image- 2>/dev/null |
    grep -E '^linux-image-[0-9]+\.[0-9]+[.-][0-9][^ ]*-amd64$' | grep -vE -- '-(rt|cloud)-amd64$' |
    sed -E 's/^linux-image-([0-9]+\.[0-9]+)[.-].*/\1 &/' | sort -V -k2
}
# Whether apt has a downloadable version of PACKAGE. (Not `apt-cache | grep
# -q`: under pipefail, grep quitting early makes the pipeline fail at random.)
downloadable() {
  local info
  info=$(apt-cache "${APT_OPTS[@]}" show --no-all-versions "$1" 2>/dev/null) || return 1
  [[ $info == *$'\nFilename: '* ]]
}
# The newest package of SERIES that apt can actually download.
resolve_package() {
  local series=$1 pkg
  for pkg in $(kernel_packages | awk -v s="$series" '$1 == s { print $2 }' | tac); do
    downloadable "$pkg" && { echo "$pkg"; return 0; }
  done
  return 1
}

# Downloads PACKAGE's .deb into $CACHE/debs; prints its path.
download() {
  rm -f "$CACHE/debs/$1"_*.deb
  (cd "$CACHE/debs" && apt-get "${APT_OPTS[@]}" -q download "$1" > "$CACHE/debs/download.log" 2>&1) || {
    tail -n 3 "$CACHE/debs/download.log" >&2
    return 1
  }
  ls "$CACHE/debs/$1"_*.deb
}

# Unpacks the vmlinuz of PACKAGE into $CACHE/kernels/PACKAGE; prints that dir.
fetch_kernel() {
  local pkg=$1 dir=$CACHE/kernels/$1 part deb
  if [[ ! -f $dir/.done ]]; then
    # From 7.x the image package is only a meta package over linux-binary-*
    # (the vmlinuz) and linux-modules-*: fetch the vmlinuz part only.
    part=$pkg
    downloadable "linux-binary-${pkg#linux-image-}" && part="linux-binary-${pkg#linux-image-}"
    deb=$(download "$part") || return 1
    rm -rf "$dir" && mkdir -p "$dir"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir" --wildcards '*vmlinuz*' ||
      { say "no vmlinuz in $deb"; return 1; }
    mv "$(find "$dir" -name 'vmlinuz*' -type f | head -1)" "$dir/vmlinuz"
    extract_pvh "$dir/vmlinuz" "$dir/vmlinux" || rm -f "$dir/vmlinux"
    rm -f "$deb"   # the unpacked kernel is what is cached
    touch "$dir/.done"
  fi
  echo "$dir"
}

# Kernel modules the guest loads, with the modules they depend on: the
# network tests' veth pair, and nftables with its random numbers (their
# packet loss). `?name`: only where the kernel has it as a module; up to 6.x
# libcrc32c (which nf_tables needs) fails to load without a crc32c algorithm
# loaded first, a soft dependency that insmod does not follow.
GUEST_MODULES=(veth '?crc32c_generic' nf_tables nft_numgen)

# Unpacks GUEST_MODULES (and what they depend on) of PACKAGE, uncompressed,
# into $CACHE/kernels/PACKAGE/modules, with their load order in `order`.
fetch_modules() {
  local pkg=$1 dir=$CACHE/kernels/$1/modules part deb tmp name f dep
  [[ -f $dir/.done ]] && return 0
  # 7.x: the modules are in linux-modules-*; before, in the image package
  part=$pkg
  downloadable "linux-modules-${pkg#linux-image-}" && part="linux-modules-${pkg#linux-image-}"
  deb=$(download "$part") || return 1
  tmp=$(mktemp -d)
  rm -rf "$dir" && mkdir -p "$dir"
  local -a todo=("${GUEST_MODULES[@]}") order=()
  local -A deps=() placed=() optional=()
  for name in "${GUEST_MODULES[@]}"; do [[ $name == \?* ]] && optional[${name#\?}]=1; done
  todo=("${todo[@]#\?}")
  while ((${#todo[@]})); do  # one pass over the package per level of dependencies
    local -a want=() patterns=() next=()
    for name in "${todo[@]}"; do
      [[ -v deps[$name] || " ${want[*]} " == *" $name "* ]] && continue
      want+=("$name")
      # module names use - and _ interchangeably; files keep the one they were built with
      patterns+=("*/${name}.ko*" "*/${name//_/-}.ko*")
    done
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards "${patterns[@]}" 2>/dev/null || true
    for name in "${want[@]}"; do
      f=$(find "$tmp" \( -name "${name}.ko*" -o -name "${name//_/-}.ko*" \) -type f | head -1)
      if [[ -z $f && -v optional[$name] ]]; then
        deps[$name]="" placed[$name]=1  # not a module of this kernel: nothing to load
        continue
      fi
      [[ -n $f ]] || { say "no module $name in $deb"; rm -rf "$tmp" "$deb"; return 1; }
      case $f in
        *.ko.xz) xz -dc "$f" > "$dir/$name.ko" ;;
        *.ko.zst) zstd -qdc "$f" > "$dir/$name.ko" ;;
        *.ko.gz) gzip -dc "$f" > "$dir/$name.ko" ;;
        *) cp "$f" "$dir/$name.ko" ;;
      esac
      objcopy -O binary --only-section=.modinfo "$dir/$name.ko" "$tmp/modinfo"
      deps[$name]=$(tr '\0' '\n' < "$tmp/modinfo" | sed -n 's/^depends=//p' | tr ',' ' ')
      for dep in ${deps[$name]}; do next+=("$dep"); done
    done
    todo=("${next[@]}")
  done
  place() {  # a module after everything it depends on
    [[ -v placed[$1] ]] && return
    placed[$1]=1
    local d
    for d in ${deps[$1]}; do place "$d"; done
    order+=("$1")
  }
  for name in "${GUEST_MODULES[@]#\?}"; do place "$name"; done
  printf '%s\n' "${order[@]}" > "$dir/order"
  rm -rf "$tmp" "$deb"
  touch "$dir/.done"
}

# TCG spends seconds in the bzImage's own decompressor: unpack the ELF vmlinux
# on the host and boot it through its PVH entry (Xen note 18, PHYS32_ENTRY).
extract_pvh() {
  local in=$1 out=$2 magic cmd off
  for pair in $'\xfd7zXZ\x00:xz -dc' $'\x28\xb5\x2f\xfd:zstd -qdc'; do
    magic=${pair%%:*} cmd=${pair#*:}
    for off in $(LC_ALL=C grep -obUaF "$magic" "$in" 2>/dev/null | cut -d: -f1 | head -3); do
      tail -c +$((off + 1)) "$in" | $cmd > "$out" 2>/dev/null || true
      readelf -n "$out" 2>/dev/null | grep -E 'Unknown note type: \(0x00000012\)|PHYS32_ENTRY' >/dev/null && return 0
    done
  done
  return 1
}

# ------------------------------------------------------------ accelerator ---
accel=${VMTEST_ACCEL:-auto}
if [[ $accel == auto ]]; then
  accel=tcg
  # kvm_pvm (nested page-table VMs, e.g. in Firecracker sandboxes) exposes
  # /dev/kvm but cannot run an unmodified guest kernel at a usable speed.
  [[ -r /dev/kvm && -w /dev/kvm && ! -d /sys/module/kvm_pvm ]] && accel=kvm
fi
case $accel in
  kvm) qaccel=(-accel kvm -cpu host) ;;
  # one emulation thread: multi-threaded TCG flaked (guest oopses, hangs after attach)
  tcg) qaccel=(-accel 'tcg,thread=single' -cpu max) ;;
  *) say "bad VMTEST_ACCEL=$accel (auto, kvm or tcg)"; exit 2 ;;
esac

# ------------------------------------------------------------ initramfs -----
# Dynamically linked binaries plus the libraries ldd lists (and the loader):
# the guest runs the very binaries the host tested, whatever they link.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
root=$WORK/root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,vmtest/bin}
cp "$busybox" "$root/bin/busybox"
install -m 755 "$here/guest-init.sh" "$root/init"
declare -A libdirs=()
add_binary() {  # add_binary FILE DIR: FILE (debug info stripped) into DIR, with its libraries
  objcopy --strip-debug "$1" "$2/${1##*/}"
  while IFS= read -r lib; do
    [[ -e $root$lib ]] && continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
    libdirs[$(dirname "$lib")]=1
  done < <(ldd "$1" | sed -nE 's@.*=> (/[^ ]+) \(.*@\1@p; s@^[[:space:]]*(/[^ ]+) \(.*@\1@p')
}
for b in "${bins[@]}"; do add_binary "$b" "$root/vmtest/bin"; done
# /bin/sh, which the tests' system() and popen() run, is bash: Debian's static
# busybox shell runs its own applets ahead of PATH, so its `ip` would shadow
# iproute2's. /init itself runs on busybox's shell.
add_binary "$(command -v bash)" "$root/bin"
ln -s bash "$root/bin/sh"
# iproute2's ip, ahead of busybox's on the guest's PATH: the network tests
# build their network namespaces and veth pair with it (busybox's has no netns).
mkdir -p "$root/vmtest/tools"
iproute2_ip=$(PATH=/usr/sbin:/sbin:/usr/bin:/bin command -v ip || true)
if [[ -n $iproute2_ip ]] && ! readlink -f "$iproute2_ip" | grep -q busybox; then
  add_binary "$iproute2_ip" "$root/vmtest/tools"
else
  say "WARNING: no iproute2 ip on this host (apt-get install iproute2): the guests skip the network tests"
fi
nft=$(PATH=/usr/sbin:/sbin:/usr/bin:/bin command -v nft || true)
if [[ -n $nft ]]; then
  add_binary "$nft" "$root/vmtest/tools"
else
  say "WARNING: no nft on this host (apt-get install nftables): the guests skip the packet-loss test"
fi
(IFS=:; echo "${!libdirs[*]}") > "$root/vmtest/ld_library_path"
echo "${VMTEST_GTEST_ARGS:-}" > "$root/vmtest/gtest_args"
(cd "$root" && find . | cpio -o -H newc --quiet) > "$WORK/initramfs.cpio"
say "initramfs: ${bins[*]##*/} + $(find "$root" -name '*.so*' | wc -l) shared libraries, $(($(stat -c %s "$WORK/initramfs.cpio") / 1048576)) MiB; accel $accel"

# ------------------------------------------------------------ boot ----------
declare -a results=()
failed=0 skipped=0
for spec in "${specs[@]}"; do
  series=${spec%%:*} layout=${spec#*:}
  if [[ $series == newest ]]; then
    series=$(kernel_packages | awk '{ print $1 }' | sort -V | tail -1)
    [[ -n $series ]] || { say "SKIPPED newest: no kernel packages in the package lists"; results+=("newest - SKIPPED no-packages"); skipped=1; continue; }
  fi
  [[ $layout == "$spec" ]] && { [[ ${series%%.*} -le 5 ]] && layout=v1 || layout=v2; }
  if ! pkg=$(resolve_package "$series"); then
    say "SKIPPED $series: no linux-image-$series.*-amd64 package in the Debian suites (bullseye .. trixie-backports)"
    results+=("$series $layout SKIPPED no-package"); skipped=1; continue
  fi
  if ! kdir=$(fetch_kernel "$pkg"); then
    say "SKIPPED $series: cannot download $pkg"
    results+=("$series $layout SKIPPED download-failed"); skipped=1; continue
  fi
  kernel=$kdir/vmlinuz
  [[ -f $kdir/vmlinux ]] && kernel=$kdir/vmlinux
  name=${pkg#linux-image-}
  # this kernel's modules go in a second archive after the common one (the
  # kernel unpacks concatenated cpio archives in turn)
  if ! fetch_modules "$pkg"; then
    say "SKIPPED $series: cannot fetch the modules its network tests need (${GUEST_MODULES[*]#\?}) from $pkg's packages"
    results+=("$series $layout SKIPPED modules-download-failed"); skipped=1; continue
  fi
  rm -rf "$WORK/mods" && mkdir -p "$WORK/mods/vmtest/modules"
  cp "$kdir"/modules/*.ko "$kdir/modules/order" "$WORK/mods/vmtest/modules/"
  initramfs=$WORK/initramfs-$name.cpio
  { cat "$WORK/initramfs.cpio"; (cd "$WORK/mods" && find . | cpio -o -H newc --quiet); } > "$initramfs"
  log=$OUT/$name-$layout.console.log
  say "booting $name ($layout cgroups, $accel) ..."
  start=$(date +%s)
  set +e
  timeout --foreground "$TIMEOUT" qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot \
    "${qaccel[@]}" -smp "$SMP" -m "$MEM" -kernel "$kernel" -initrd "$initramfs" \
    -append "console=ttyS0 panic=-1 oops=panic quiet rdinit=/init vmtest.layout=$layout ${VMTEST_KERNEL_ARGS:-}" \
    -serial stdio -monitor none < /dev/null 2>&1 |
    if [[ ${VMTEST_VERBOSE:-0} == 1 ]]; then tee "$log.raw"; else cat > "$log.raw"; fi
  qrc=${PIPESTATUS[0]}
  set -e
  rm -f "$initramfs"
  tr -d '\r' < "$log.raw" > "$log" && rm -f "$log.raw"
  secs=$(($(date +%s) - start))
  sed -n '/^VMTEST_FEATURES_BEGIN/,/^VMTEST_FEATURES_END/p' "$log" | grep -v '^VMTEST_FEATURES' | sed "s/^/vmtest: $name: /" >&2
  grep -E '^VMTEST_STEP|^\[  PASSED  \]|^\[  FAILED  \]|^\[  SKIPPED \] [0-9]+ tests?,' "$log" | sed "s/^/vmtest: $name: /" >&2
  rc=$(sed -n 's/^VMTEST_RESULT rc=\([0-9]*\)$/\1/p' "$log" | tail -1)
  if [[ $rc == 0 ]]; then
    results+=("$name $layout passed ${secs}s")
  else
    why="guest said rc=$rc"
    [[ -z $rc ]] && why="no result from the guest (qemu exit $qrc$([[ $qrc == 124 ]] && echo ": timed out after ${TIMEOUT}s"))"
    {
      echo "vmtest: ---------------- $name ($layout) FAILED: $why"
      # what each failed assertion said (the console's tail rarely holds it)
      if grep -q ': Failure$' "$log"; then
        echo "vmtest: $name: failed assertions:"
        grep -E -A10 ': Failure$' "$log" | head -n 150 | sed "s/^/vmtest: $name! /"
      fi
      echo "vmtest: $name: last console lines ($log):"
      tail -n 60 "$log" | sed "s/^/vmtest: $name| /"
      echo "vmtest: ---------------- end of $name"
    } >&2
    results+=("$name $layout FAILED ${secs}s")
    failed=1
  fi
done

say "summary (kernel, cgroup layout, result):"
for r in "${results[@]}"; do say "  $r"; done
if ((failed)); then
  say "FAILED on: $(printf '%s\n' "${results[@]}" | awk '$3 == "FAILED" { print $1 }' | xargs)"
  exit 1
fi
passed=$(printf '%s\n' "${results[@]}" | awk '$3 == "passed" { print $1 }' | xargs)
((skipped)) && skip "some kernels could not be had (see above)" "passed: ${passed:-none}"
exit 0
