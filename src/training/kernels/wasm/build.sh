#!/usr/bin/env bash
# Builds fused.wasm (for tfjs-backend-wasm's single-threaded build, whose memory is not shared) and
# fused-shared.wasm (for its threaded build: shared memory) from fused.c, and the same two with
# relaxed SIMD's fused multiply-add (fused-relaxed.wasm, fused-relaxed-shared.wasm; relax.mjs turns
# clang-14's prototype f32x4.fma opcode into the final f32x4.relaxed_madd, so Node is needed too). Needs clang and lld with
# the wasm32 target (Debian: apt-get install clang lld). The built modules are committed, so neither
# users nor CI need clang; test/training/kernels.fused.test.ts checks they match a rebuild when
# clang is present.
#
#   src/training/kernels/wasm/build.sh [output-dir]     (default: next to this script)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here}"
mkdir -p "$out"
CLANG="${CLANG:-clang}"
common=(--target=wasm32 -O3 -msimd128 -ffreestanding -nostdlib -fno-builtin -Wall -Werror
  -Wl,--no-entry -Wl,--import-memory -Wl,--strip-all)
"$CLANG" "${common[@]}" -o "$out/fused.wasm" "$here/fused.c"
"$CLANG" "${common[@]}" -matomics -mbulk-memory -Wl,--shared-memory -Wl,--max-memory=4294967296 \
  -o "$out/fused-shared.wasm" "$here/fused.c"
relaxed=(-mrelaxed-simd -DFLOWTUNE_RELAXED)
"$CLANG" "${common[@]}" "${relaxed[@]}" -o "$out/fused-relaxed.wasm" "$here/fused.c"
"$CLANG" "${common[@]}" "${relaxed[@]}" -matomics -mbulk-memory -Wl,--shared-memory -Wl,--max-memory=4294967296 \
  -o "$out/fused-relaxed-shared.wasm" "$here/fused.c"
node "$here/relax.mjs" "$out/fused-relaxed.wasm" >/dev/null
node "$here/relax.mjs" "$out/fused-relaxed-shared.wasm" >/dev/null
# The kernels must not touch memory they are not handed: no shadow stack (no global.get/set of
# __stack_pointer), no data segments.
for f in "$out"/fused*.wasm; do
  dump="$(llvm-objdump -d "$f" 2>/dev/null || llvm-objdump-14 -d "$f")"
  if grep -qE 'global\.(get|set)' <<<"$dump"; then echo "$f uses a global (shadow stack?)" >&2; exit 1; fi
  if llvm-objdump -h "$f" 2>/dev/null | grep -qE '\bDATA\b'; then echo "$f has a data section" >&2; exit 1; fi
done
