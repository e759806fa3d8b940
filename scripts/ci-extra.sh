#!/usr/bin/env bash
# CI's extra builds, after the main suite (.ci/run), each in a build directory
# of its own and building only what it runs:
#   release   Release, -Werror: the unit tests (what packagers build)
#   asan      Debug + AddressSanitizer + UndefinedBehaviorSanitizer, -Werror:
#             the unit, statsd, BPF, end-to-end and plugin suites
#   tsan      RelWithDebInfo + ThreadSanitizer: the threaded parts (statsd
#             readers, forwarder senders, metadata cache, HTTP servers, the
#             Docker event stream's stop)
# Every step prints how long it took. Pick steps with arguments
# (`scripts/ci-extra.sh asan tsan`); none = all. The fuzz tests (ctest -L fuzz)
# already ran in the main suite.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
((${#steps[@]})) || steps=(release asan tsan)
jobs=${CI_JOBS:-$(nproc)}
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

timed() {  # timed <what> <command...>
  local what=$1 start rc=0
  shift
  start=$(date +%s)
  echo "+ $*"
  "$@" || rc=$?
  echo "ci-extra: $what took $(($(date +%s) - start)) s (exit $rc)"
  return $rc
}

build() {  # build <dir> <cmake args...> -- <targets...>
  local dir=$1 args=() targets=()
  shift
  while (($#)) && [[ $1 != -- ]]; do args+=("$1"); shift; done
  shift
  targets=("$@")
  cmake -S . -B "$dir" -DTRACER_BUILD_BENCH=OFF -DTRACER_WERROR=ON "${launcher[@]}" "${args[@]}" >/dev/null
  cmake --build "$dir" -j"$jobs" --target "${targets[@]}"
}

# Suites that load BPF programs take the shared lock, as the main suite's tests do.
bpf_locked() { flock /tmp/tracer-bpf.lock "$@"; }

for step in "${steps[@]}"; do
  case $step in
    release)
      timed "release build" build build-release -DCMAKE_BUILD_TYPE=Release -- tracer tracer_unit_tests
      timed "release unit tests" build-release/tests/tracer_unit_tests --gtest_brief=1
      ;;
    asan)
      export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1
      export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
      timed "asan+ubsan build" build build-asan -DCMAKE_BUILD_TYPE=Debug -DTRACER_SANITIZE=address,undefined -- \
        tracer tracer_unit_tests tracer_statsd_tests tracer_e2e_tests tracer_bpf_tests tracer_plugin_tests
      timed "asan+ubsan unit tests" build-asan/tests/tracer_unit_tests --gtest_brief=1
      timed "asan+ubsan statsd tests" build-asan/tests/tracer_statsd_tests --gtest_brief=1
      # every plugin against its real server (the README test command has
      # installed them), the runner with its abandoned runs, the parsers (~15 s)
      timed "asan+ubsan plugin tests" build-asan/tests/tracer_plugin_tests --gtest_brief=1
      timed "asan+ubsan e2e tests" bpf_locked build-asan/tests/tracer_e2e_tests --gtest_brief=1 \
        --gtest_filter='TracerRun*:TracerStatsd*:HostileInput*:TracerEvents*:TracerPlugins*:RingFlood*'
      # The whole BPF suite under ASan takes ~15 min on 2 cores: CI runs every test
      # once, in the v1 memory keying (both builds) and v2 with the 5.11+ build (the probes' userspace is
      # the same for every keying); CI_EXTRA_FULL=1 runs all of them. The run-queue
      # latency bars count a sleeper's waits to the unit, which ASan's slowdown moves;
      # they hold in the plain suite.
      bpf_filter='KernelFeaturesTest.*:NetProbeBaseline.*:SyscallCollectorTest.*:*/memory_*:*/unified_modern'
      [[ ${CI_EXTRA_FULL:-0} == 1 ]] && bpf_filter='*'
      bpf_filter+='-*RunQueueLatency*'
      timed "asan+ubsan bpf tests" bpf_locked build-asan/tests/tracer_bpf_tests --gtest_brief=1 \
        --gtest_filter="$bpf_filter"
      unset ASAN_OPTIONS UBSAN_OPTIONS
      ;;
    tsan)
      # second_deadlock_stack: both stacks of a lock-order report
      export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
      timed "tsan build" build build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRACER_SANITIZE=thread -- \
        tracer tracer_unit_tests tracer_statsd_tests tracer_e2e_tests
      timed "tsan unit tests (HTTP server, forwarder, metadata cache, aggregation, Docker event stream stop)" \
        build-tsan/tests/tracer_unit_tests --gtest_brief=1 \
        --gtest_filter='MetricsServer*:Aggregator*:SinkEncoders*:DiskSpool*:MetadataCache*:ContainerTagger*:CgroupResolver*:StatsdAggregator*:DockerClient*'
      timed "tsan statsd tests (readers, flush handshake)" build-tsan/tests/tracer_statsd_tests --gtest_brief=1
      timed "tsan forwarder tests (senders, spool, against VictoriaMetrics)" \
        build-tsan/tests/tracer_e2e_tests --gtest_brief=1 --gtest_filter='ForwarderTest.*'
      unset TSAN_OPTIONS
      ;;
    *)
      echo "ci-extra: unknown step '$step' (release, asan, tsan)" >&2
      exit 2
      ;;
  esac
done
