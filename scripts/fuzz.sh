#!/usr/bin/env bash
# Builds and runs the libFuzzer targets, then merges what they found into the
# committed corpora.
#   scripts/fuzz.sh [SECONDS] [NAME...]    (NAME as in tests/fuzz/fuzz_NAME.c)
# Each target runs SECONDS (default 60) with clang -fsanitize=fuzzer,address,
# undefined, every library source (src/lib, src/lib/c4gh, src/lib/cmd) compiled in with the Makefile's -I/-D flags.
# New inputs go to build/fuzz/work/NAME, then `-merge=1` adds those that
# reach new coverage to tests/fuzz/corpus/NAME. A crash, leak or timeout is
# copied into the committed corpus as regress-*, so `make check` replays it
# until it is fixed, and this script exits non-zero.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
seconds=${1:-60}
shift || true
out=build/fuzz
mkdir -p "$out/obj" "$out/work" "$out/logs"

# The Makefile's flags, so the fuzz build sees the same headers and macros.
vars=$(make -pn -f Makefile 2>/dev/null)
flag() { sed -n "s/^$1 := //p" <<<"$vars" | head -n 1; }
eval "defs=($(flag DEFS))"
eval "pkg_cflags=($(flag PKG_CFLAGS))"
eval "pkg_libs=($(flag PKG_LIBS))"
cflags=(-std=c17 -g -O1 -fno-omit-frame-pointer -Iinclude "${defs[@]}" "${pkg_cflags[@]}" -pthread
        -fsanitize=address,undefined -fno-sanitize-recover=undefined)

echo "fuzz: building library objects"
objs=()
for src in src/lib/*.c src/lib/c4gh/*.c src/lib/cmd/*.c; do
  obj=$out/obj/$(basename "${src%.c}").o
  if [ ! -e "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find include src/lib -name '*.h' -newer "$obj" -print -quit)" ]; then
    clang "${cflags[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$obj" || { echo "fuzz: cannot build $src" >&2; exit 1; }
  fi
  objs+=("$obj")
done
# An archive, as the Makefile links: a target pulls in only what it uses.
lib=$out/libkura-fuzz.a
rm -f "$lib" && ar rcs "$lib" "${objs[@]}" || exit 1

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do n=$(basename "${f%.c}"); targets+=("${n#fuzz_}"); done
fi

status=0
summary=()
for name in "${targets[@]}"; do
  src=tests/fuzz/fuzz_$name.c bin=$out/fuzz_$name corpus=tests/fuzz/corpus/$name
  work=$out/work/$name artifacts=$out/artifacts/$name/ log=$out/logs/$name.log
  [ -f "$src" ] || { echo "fuzz: no $src" >&2; status=1; continue; }
  rm -rf "$artifacts"; mkdir -p "$corpus" "$work" "$artifacts"
  echo "fuzz: $name: building"
  if ! clang "${cflags[@]}" -fsanitize=fuzzer -o "$bin" "$src" "$lib" "${pkg_libs[@]}"; then
    echo "fuzz: $name: build failed" >&2; status=1; continue
  fi
  echo "fuzz: $name: running ${seconds}s"
  "$bin" -max_total_time="$seconds" -timeout=60 -print_final_stats=1 -artifact_prefix="$artifacts" \
    "$work" "$corpus" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  final=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$final")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$final")
  found=0
  for a in "$artifacts"*; do
    [ -f "$a" ] || continue
    cp "$a" "$corpus/regress-$(basename "$a")"
    echo "fuzz: $name: finding $(basename "$a") added to $corpus (see $log)" >&2
    found=$((found + 1))
  done
  before=$(find "$corpus" -type f | wc -l)
  "$bin" -merge=1 -timeout=60 "$corpus" "$work" >>"$log" 2>&1
  after=$(find "$corpus" -type f | wc -l)
  [ "$rc" -eq 0 ] && [ "$found" -eq 0 ] || status=1
  summary+=("$(printf '%-24s execs %10s  cov %6s  ft %7s  corpus %5s (+%s)  findings %s' "$name" "${execs:-?}" \
    "${cov:-?}" "${ft:-?}" "$after" "$((after - before))" "$found")")
done
echo
printf '%s\n' "${summary[@]}"
exit "$status"
