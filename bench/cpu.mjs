// The CPU model every benchmark figure is stated with (lscpu's "Model name", else Node's).
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

export function cpuModel() {
  try {
    const line = execFileSync('lscpu', { encoding: 'utf8' }).split('\n').find((l) => l.startsWith('Model name'));
    if (line) return line.split(':')[1].trim();
  } catch {
    /* no lscpu */
  }
  return cpus()[0]?.model ?? 'unknown CPU';
}
