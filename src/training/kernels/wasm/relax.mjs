#!/usr/bin/env node
/**
 * Turns the f32x4.fma instructions clang-14 emits for __builtin_wasm_fma_f32x4 (the relaxed-SIMD
 * prototype's opcode 0xfd 0xaf 0x01, which no released V8 accepts) into the final
 * f32x4.relaxed_madd (0xfd 0x85 0x02, same length): `relaxed_madd(a, b, c) = a·b + c`, so fused.c
 * passes its operands in that order. The instructions are found by llvm-objdump (offsets within
 * the code section), not by searching bytes, so no immediate is touched. Used by build.sh.
 *
 *   node relax.mjs FILE.wasm
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const file = process.argv[2];
const bytes = readFileSync(file);
const leb = (at) => {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[at++];
    value |= (b & 0x7f) << shift;
    shift += 7;
    if (!(b & 0x80)) return [value >>> 0, at];
  }
};
let at = 8;
let code = -1;
while (at < bytes.length) {
  const id = bytes[at];
  const [size, payload] = leb(at + 1);
  if (id === 10) code = payload;
  at = payload + size;
}
if (code < 0) throw new Error(`${file}: no code section`);
let dump;
try {
  dump = execFileSync('llvm-objdump', ['-d', file], { encoding: 'utf8', maxBuffer: 1 << 28 });
} catch {
  dump = execFileSync('llvm-objdump-14', ['-d', file], { encoding: 'utf8', maxBuffer: 1 << 28 });
}
let patched = 0;
for (const line of dump.split('\n')) {
  const m = /^\s*([0-9a-f]+):\s+fd af 01\s+f32x4\.fma\b/.exec(line);
  if (!m) continue;
  const offset = code + Number.parseInt(m[1], 16);
  if (bytes[offset] !== 0xfd || bytes[offset + 1] !== 0xaf || bytes[offset + 2] !== 0x01) throw new Error(`${file}: no f32x4.fma at ${offset}`);
  bytes[offset + 1] = 0x85;
  bytes[offset + 2] = 0x02;
  patched++;
}
if (patched === 0) throw new Error(`${file}: no f32x4.fma to patch`);
writeFileSync(file, bytes);
console.log(`${file}: ${patched} f32x4.fma → f32x4.relaxed_madd`);
