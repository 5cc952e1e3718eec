import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TUNE = path.join(ROOT, 'bin', 'tune.js');
export const HAVE_FASHION = existsSync('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz') || existsSync(path.join(ROOT, 'data/fashion/train-images-idx3-ubyte.gz'));

/** A tiny real study: a few hundred Fashion-MNIST images, two epochs, a handful of runs. */
export const SMALL_STUDY = ['--data', 'fashion', '--validation-size', '2000', '--subset', '500', '--validation-subset', '300', '--max-epochs', '2', '--budget', '0', '--no-final-full', '--backend', 'wasm'];

export function tune(args: string[], cwd = ROOT) {
  const result = spawnSync(process.execPath, [TUNE, ...args], { cwd, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' }, timeout: 300_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

export function tuneAsync(args: string[], cwd = ROOT) {
  return spawn(process.execPath, [TUNE, ...args], { cwd, env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
}

export async function tempReports(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'flowtune-reports-'));
}
