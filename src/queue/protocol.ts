/**
 * What travels through the job queue (BullMQ on Redis) between a study's coordinator and its
 * workers. A job carries a configuration, never code: the network spec, the training options,
 * which images (indices into the data set both sides open), the data set's content hash, the
 * flowtune version, and for a warm start the parent's checkpoint files. The result carries the
 * run's record (history, stop reason, counters) and its checkpoint files. A speed probe (job name
 * 'probe') carries the same configuration and returns the worker's measured speed: the budget
 * prices a candidate's run at the speed of the machines that will train it.
 *
 * Checkpoints travel through Redis, as keys of their own beside the job (`flowtune:checkpoint:ID`,
 * base64 files, expiring with the job): workers on other machines need no shared file system, a
 * checkpoint of the networks a study trains is well under a few MB (the 40→80 network's, optimizer
 * state included: 0.85 MB), and BullMQ's event stream, which repeats every return value, stays
 * small. Finished jobs are kept for KEEP_FINISHED_SECONDS so that a coordinator that was stopped
 * adopts them on --resume.
 */
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { decodeNumber, encodeNumber } from '../store/study-store.ts';
import type { NetworkSpec, TrainingOptions } from '../types.ts';
import type { DataView } from '../data/image-set.ts';
import type { RunResult } from '../store/records.ts';

/** The queue's name in Redis (its keys are `bull:flowtune-train:*`). */
export const QUEUE_NAME = 'flowtune-train';
/** Bumped when a job's or a result's shape changes: a worker refuses a job of another protocol. (2: speed probes.) */
export const PROTOCOL = 2;
/** Finished (and failed) jobs are kept this long, for a coordinator that resumes. */
export const KEEP_FINISHED_SECONDS = 7 * 24 * 3600;

/** How a worker opens the data set: the study's --data and the flags that change the pixels. */
export interface DataSource {
  /** 'fashion' (each machine's own copy), or an absolute path every worker must reach. */
  data: string;
  imageSize: [number, number] | null;
  testData: string | null;
  skipBad: boolean;
  maxMemoryBytes?: number;
}

/** Which images: a set of the opened data set and indices into it. */
export interface ViewSpec {
  set: 'train' | 'validation';
  /** Uint32 indices, little-endian, base64. */
  indices: string;
}

/** What every job carries: who sent it, and the data and configuration it is about. */
export interface JobHeader {
  protocol: number;
  /** flowtune's version on the coordinator: a worker of another version refuses the job. */
  version: string;
  study: string;
  data: DataSource;
  /** datasetFingerprint of the coordinator's data set. */
  fingerprint: string;
  network: NetworkSpec;
  options: TrainingOptions;
  train: ViewSpec;
}

export interface TrainJob extends JobHeader {
  validation: ViewSpec;
  runId: number;
  /** A warm start: the parent run's record and the key of its checkpoint files (checkpointKey). */
  continueFrom: { result: RunResult; key: string } | null;
  deadline?: number;
  deadlineMidEpoch?: boolean;
}

/** A speed probe (job name 'probe'): two epochs of `images` training images, as training/speed.ts `probeTrainingSpeed` (the coordinator measures the evaluation part where it evaluates). */
export interface ProbeJob extends JobHeader {
  images: number;
}

/** The worker's measured training speed. */
export interface ProbeJobResult {
  imagesPerSecond: number;
  worker: string;
}

export interface TrainJobResult {
  result: RunResult;
  /** The key of the checkpoint folder's files (checkpointKey). */
  key: string;
  /** The worker that trained it (host:pid) and its backend. */
  worker: string;
}

/** A job or result as the queue stores it: JSON keeping NaN and ±Infinity (a diverged loss, an unset gradient threshold). */
export function encodePayload(value: TrainJob | TrainJobResult | ProbeJob | ProbeJobResult): string {
  return JSON.stringify(value, encodeNumber);
}

export function decodePayload<T extends TrainJob | TrainJobResult | ProbeJob | ProbeJobResult>(text: string): T {
  return JSON.parse(text, decodeNumber) as T;
}

export function encodeIndices(indices: Uint32Array): string {
  const bytes = new Uint8Array(indices.length * 4);
  const view = new globalThis.DataView(bytes.buffer);
  for (let i = 0; i < indices.length; i++) view.setUint32(i * 4, indices[i], true);
  return Buffer.from(bytes).toString('base64');
}

export function decodeIndices(text: string): Uint32Array {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length % 4 !== 0) throw new Error(`indices: ${bytes.length} bytes is not a whole number of Uint32`);
  const view = new globalThis.DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4, true);
  return out;
}

/** The view of a set as a job names it. */
export function viewSpec(view: DataView, sets: { train: DataView['set']; validation: DataView['set'] | null }): ViewSpec {
  const set = view.set === sets.train ? 'train' : view.set === sets.validation ? 'validation' : null;
  if (set === null) throw new Error('a job can only name images of the data set\'s training or validation set');
  return { set, indices: encodeIndices(view.indices) };
}

/**
 * Every regular file of a checkpoint folder and its subfolders (a run keeps its last iteration's
 * network in last/), base64, by path relative to the folder; `except` names top-level files left
 * out (the study's per-image file).
 */
export async function packFolder(dir: string, except: readonly string[] = []): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  const walk = async (sub: string): Promise<void> => {
    for (const entry of (await readdir(path.join(dir, sub), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const rel = sub === '' ? entry.name : `${sub}/${entry.name}`;
      if (sub === '' && except.includes(entry.name)) continue;
      if (entry.isDirectory()) await walk(rel);
      else if (entry.isFile()) files[rel] = (await readFile(path.join(dir, rel))).toString('base64');
    }
  };
  await walk('');
  return files;
}

/** Writes packed files under `dir`; a name that would leave it (absolute, '..', hidden) is refused. */
export async function unpackFolder(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, data] of Object.entries(files)) {
    const parts = name.split('/');
    if (path.isAbsolute(name) || parts.some((p) => p === '' || p === '.' || p === '..' || p.startsWith('.') || p.includes('\\'))) {
      throw new Error(`checkpoint file name ${JSON.stringify(name)} is not a plain relative path`);
    }
    const file = path.join(dir, ...parts);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, Buffer.from(data, 'base64'));
  }
}

/**
 * The job id of a study's run: the same for the same study and run, so that adding it again (a
 * resumed coordinator) finds the job already queued, running or finished instead of training it
 * twice. BullMQ ids may not contain ':'.
 */
export function jobIdFor(studyKey: string, run: string): string {
  return `${studyKey}-${run.replace(/[^\w.-]/g, '_')}`;
}

/** A study's key in job ids: its folder and creation time, hashed (two studies of one name in two folders differ). */
export function studyKeyOf(dir: string, createdAt: string): string {
  return createHash('sha256').update(`${path.resolve(dir)}\n${createdAt}`).digest('hex').slice(0, 16);
}

/** The Redis key of a job's checkpoint files (a JSON object of base64 files). */
export function checkpointKey(jobId: string, role: 'result' | 'warm'): string {
  return `flowtune:checkpoint:${jobId}:${role}`;
}

/** A Redis URL fit for messages: the password replaced by ***. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@');
  }
}
