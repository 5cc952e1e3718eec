// The machine every benchmark figure is stated with: the CPU model (lscpu's "Model name", with its
// family, model and stepping when the name alone is generic), else Node's; and the check that
// recorded rows are side by side by their measured speed, since one name covers machines of
// different speeds (a virtual machine's "AMD EPYC" covers several generations).
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

/**
 * The CPU model from lscpu's output: "Model name", and "(family F, model M, stepping S)" after a
 * name with no model number in it (a hypervisor's "AMD EPYC", "Intel Xeon Processor"); null when
 * the text has no model name.
 */
export function cpuModelFrom(lscpu) {
  const field = (name) => {
    const line = lscpu.split('\n').find((l) => l.startsWith(`${name}:`));
    return line ? line.slice(name.length + 1).trim() : null;
  };
  const name = field('Model name');
  if (!name) return null;
  if (/\d/.test(name)) return name; // a model number: "AMD EPYC 9B14", "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz"
  const parts = [['family', field('CPU family')], ['model', field('Model')], ['stepping', field('Stepping')]].filter(([, v]) => v !== null && v !== '');
  return parts.length === 0 ? name : `${name} (${parts.map(([k, v]) => `${k} ${v}`).join(', ')})`;
}

export function cpuModel() {
  try {
    const model = cpuModelFrom(execFileSync('lscpu', { encoding: 'utf8' }));
    if (model) return model;
  } catch {
    /* no lscpu */
  }
  return cpus()[0]?.model ?? 'unknown CPU';
}

/**
 * Rows are side by side when their machines train at about the same speed: the ratio of the
 * fastest to the slowest `startImagesPerSecond` (every study's run 1, the starting configuration on
 * the subset, the same work whatever the policy) at most this. Measured on one machine in one
 * session (AMD EPYC family 26, 2026-12-04, six flowchart studies one after another): 13,485 to
 * 16,151 images/s, ×1.20.
 */
export const SIDE_BY_SIDE_SPEED_RATIO = 1.25;

/**
 * Why recorded rows are not side by side, or null when they are (or their speeds are unknown):
 * different CPU names, or run 1 speeds spread beyond SIDE_BY_SIDE_SPEED_RATIO.
 */
export function notSideBySide(rows) {
  const cpusSeen = [...new Set(rows.map((r) => r.cpu).filter(Boolean))];
  if (cpusSeen.length > 1) return `rows from different CPUs (${cpusSeen.join(' + ')}): not side by side`;
  const speeds = rows.map((r) => r.startImagesPerSecond).filter((s) => typeof s === 'number' && s > 0);
  if (speeds.length < 2) return null;
  const ratio = Math.max(...speeds) / Math.min(...speeds);
  if (ratio <= SIDE_BY_SIDE_SPEED_RATIO) return null;
  return `run 1 trained at ${Math.round(Math.min(...speeds))}–${Math.round(Math.max(...speeds))} images/s (×${ratio.toFixed(2)}): different machines, not side by side`;
}
