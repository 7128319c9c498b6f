#!/usr/bin/env bash
# Builds the IP input fuzz target with clang's libFuzzer (AddressSanitizer + UBSan) outside Bazel
# and runs it for a bounded time, seeded with the committed corpus.
#
#   tests/fuzz/run_fuzz.sh                 # 60 s
#   tests/fuzz/run_fuzz.sh -t 600          # longer
#   tests/fuzz/run_fuzz.sh -t 300 -u       # and merge what it found into the committed corpus
#   tests/fuzz/run_fuzz.sh -b              # build only; prints the binary's path
#   tests/fuzz/run_fuzz.sh -- -runs=1000   # extra libFuzzer flags after --
#   tests/fuzz/run_fuzz.sh -T ip_stack     # the other target: a whole IP instance's input
#
# Targets (both read tests/fuzz/corpus/ip_input):
#   ip_input  modules/ip/fuzz/ip_input_fuzz.cc: the parsers and reassembly, with properties
#   ip_stack  modules/ip/fuzz/ip_stack_fuzz.cc: IP's LinkInput (ARP, ICMP, forwarding, errors)
#   rts       modules/rts/fuzz/rts_fuzz.cc: routing socket requests (tests/fuzz/corpus/rts)
#
# Needs clang++ and libFuzzer's runtime (Debian: clang, libclang-rt-14-dev). Without them it says
# so and exits 0: the check is skipped, not failed (the Bazel test //tests/fuzz:ip_input_fuzz_test
# runs this script). A crash leaves its input as crash-* in $FUZZ_OUT (or Bazel's undeclared test
# outputs) and exits non-zero; reproduce with `<binary> <crash file>`.
#
# Environment: CLANGXX (default clang++), FUZZ_OUT (work directory; default a fresh temporary one,
# kept when the run fails).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
seconds=60
update=0
build_only=0
target=ip_input
while [ $# -gt 0 ]; do
  case "$1" in
    -T) target="$2"; shift 2 ;;
    -t) seconds="$2"; shift 2 ;;
    -u) update=1; shift ;;
    -b) build_only=1; shift ;;
    --) shift; break ;;
    *) echo "usage: $0 [-T ip_input|ip_stack|rts] [-t seconds] [-u] [-b] [-- libFuzzer flags]" >&2; exit 2 ;;
  esac
done

# Everything each target links, listed here so the script needs nothing but a compiler.
mblk_srcs=(streams/alloc.cc streams/bufcall.cc streams/debug.cc streams/mblk.cc streams/msg.cc)
case "$target" in
  ip_input)
    srcs=(
      modules/ip/fuzz/ip_input_fuzz.cc
      modules/ip/checksum.cc
      modules/ip/packet_view.cc
      modules/ip/reassembly.cc
      modules/ip/wire.cc
      modules/ip/wire_test_util.cc
      "${mblk_srcs[@]}"
    ) ;;
  ip_stack|rts)
    main=modules/ip/fuzz/ip_stack_fuzz.cc
    [ "$target" = rts ] && main="modules/rts/fuzz/rts_fuzz.cc modules/rts/rts.cc"
    srcs=(
      $main
      modules/ip/arp.cc modules/ip/ip.cc modules/ip/ip_driver.cc modules/ip/ip_input.cc
      modules/ip/checksum.cc modules/ip/packet_view.cc modules/ip/reassembly.cc modules/ip/wire.cc
      modules/ip/route.cc modules/ip/route_trie.cc modules/ip/rcu.cc modules/ip/classifier.cc
      modules/ip/siphash.cc modules/ip/errno_status.cc
      streams/autopush.cc streams/claim.cc streams/ddi.cc streams/domain.cc streams/file.cc
      streams/head.cc streams/head_inbox.cc streams/head_ioctl.cc streams/head_mux.cc streams/head_rw.cc streams/mutex.cc
      streams/perimeter.cc streams/queue.cc streams/registry.cc streams/scheduler.cc
      streams/stream.cc streams/thread_record.cc streams/timer_wheel.cc streams/wait.cc
      "${mblk_srcs[@]}"
    ) ;;
  *) echo "run_fuzz: unknown target $target" >&2; exit 2 ;;
esac
# Debian's Abseil (libabsl-dev): what absl::Time and absl::flat_hash_map need.
absl_libs=(
  -labsl_raw_hash_set -labsl_hashtablez_sampler -labsl_exponential_biased -labsl_synchronization
  -labsl_graphcycles_internal -labsl_stacktrace -labsl_symbolize -labsl_debugging_internal
  -labsl_demangle_internal -labsl_malloc_internal -labsl_time -labsl_civil_time
  -labsl_time_zone -labsl_hash -labsl_city -labsl_low_level_hash -labsl_strings
  -labsl_strings_internal -labsl_throw_delegate -labsl_int128 -labsl_base
  -labsl_raw_logging_internal -labsl_log_severity -labsl_spinlock_wait
  -labsl_status -labsl_statusor -labsl_cord -labsl_cordz_info -labsl_cord_internal
  -labsl_cordz_functions -labsl_cordz_handle -labsl_str_format_internal -labsl_strerror
)

cxx="${CLANGXX:-clang++}"
skip() {
  echo "run_fuzz: SKIPPED: $1" >&2
  echo "run_fuzz: install clang and libclang-rt-14-dev (tools/setup.sh lists them) to fuzz" >&2
  exit 0
}
command -v "$cxx" >/dev/null 2>&1 || skip "$cxx not found"

out="${FUZZ_OUT:-}"
made_tmp=0
if [ -z "$out" ]; then
  out="$(mktemp -d "${TEST_TMPDIR:-/tmp}/${target}_fuzz.XXXXXX")"
  made_tmp=1
fi
mkdir -p "$out"

# libFuzzer's runtime is a separate Debian package from clang itself: probe for it.
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
  >"$out/probe.cc"
if ! "$cxx" -fsanitize=fuzzer,address "$out/probe.cc" -o "$out/probe" >"$out/probe.log" 2>&1; then
  sed 's/^/  /' "$out/probe.log" >&2
  skip "$cxx cannot link -fsanitize=fuzzer,address (libFuzzer runtime missing?)"
fi

bin="$out/${target}_fuzz"
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I"$root")
echo "run_fuzz: building $bin" >&2
(cd "$root" && "$cxx" "${flags[@]}" "${srcs[@]}" -o "$bin" "${absl_libs[@]}" -lpthread)
if [ "$build_only" -eq 1 ]; then
  echo "$bin"
  exit 0
fi

# New inputs go to a scratch directory listed first; the committed corpus is only read.
seeds="$root/tests/fuzz/corpus/ip_input"
[ "$target" = rts ] && seeds="$root/tests/fuzz/corpus/rts"
work="$out/corpus"
mkdir -p "$work"
artifacts="${TEST_UNDECLARED_OUTPUTS_DIR:-$out}"
mkdir -p "$artifacts"
echo "run_fuzz: fuzzing for ${seconds}s from $seeds" >&2
rc=0
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
  -print_final_stats=1 -artifact_prefix="$artifacts/" "$@" "$work" "$seeds" || rc=$?

if [ "$rc" -ne 0 ]; then
  echo "run_fuzz: FAILED (exit $rc); inputs that broke it: $(ls "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* 2>/dev/null | tr '\n' ' ')" >&2
  echo "run_fuzz: reproduce with: $bin <file>   (work directory kept: $out)" >&2
  exit "$rc"
fi
if [ "$update" -eq 1 ]; then
  # Keep only inputs that add coverage to what is committed.
  "$bin" -merge=1 "$seeds" "$work" >/dev/null 2>&1
  echo "run_fuzz: merged new coverage into $seeds ($(ls "$seeds" | wc -l) files)" >&2
fi
[ "$made_tmp" -eq 1 ] && rm -rf "$out"
echo "run_fuzz: passed" >&2
