/**
 * The study store: one lowdb JSON file per study, `reports/<study>/study.json`, whose content
 * is the StudyRecord itself. Writes go through steno (temp file + rename), so a `kill -9` at
 * any moment leaves either the previous or the next complete file, never a torn one.
 *
 * Non-finite numbers (a diverged loss, `gradientThreshold: Infinity`) are kept exactly:
 * JSON cannot spell them, so they are written as `{"$num":"NaN"}` and read back as numbers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Low } from 'lowdb';
import { DataFile } from 'lowdb/node';
import { UserError } from '../errors.ts';
import { StudyLock, type StaleLock } from './lock.ts';
import { migrateStudyRecord, STUDY_SCHEMA_VERSION } from './schema.ts';
import type { DecisionRecord, InFlightRun, RunRecord, StudyRecord } from './records.ts';

export const STUDY_FILE = 'study.json';

/** JSON.stringify replacer keeping NaN and ±Infinity (the study file and the job queue's payloads). */
export function encodeNumber(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return { $num: String(value) };
  return value;
}

/** JSON.parse reviver undoing encodeNumber. */
export function decodeNumber(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === '$num') return Number((value as { $num: string }).$num);
  }
  return value;
}

export function stringifyStudy(study: StudyRecord): string {
  return JSON.stringify(study, encodeNumber, 2);
}

/**
 * Parses a stored study (any known version, migrated to the current one: schema.ts). A record
 * written by a newer flowtune is a UserError naming `source`.
 */
export function parseStudy(text: string, source = 'the study file'): StudyRecord {
  return migrateStudyRecord(JSON.parse(text, decodeNumber), source);
}

/**
 * Reads a stored study file, migrated to the current version. A missing or unreadable file, or
 * one written by a newer flowtune, is a user error naming it. Takes no lock: for readers.
 */
export function readStudyFile(file: string): StudyRecord {
  if (!existsSync(file)) {
    throw new UserError(`No study at ${path.dirname(file)}: ${file} does not exist. Run \`tune list\` to see the studies there.`);
  }
  let stored: unknown;
  try {
    stored = JSON.parse(readFileSync(file, 'utf8'), decodeNumber);
  } catch (error) {
    throw new UserError(`${file} is not a readable study file (${(error as Error).message}). It may have been edited by hand; restore it or start a new study.`);
  }
  return migrateStudyRecord(stored, file);
}

/**
 * A study's persistent record, open for writing. Mutations are serialised: each `update` applies
 * its change to the in-memory record and waits until the file on disk holds it.
 *
 * One writer per study: `create` and `open` take the study's lock (lock.ts) and `close` releases
 * it (so does the process's exit). Readers that do not write (`tune report`, `tune list`) use
 * `readStudyFile` and take no lock.
 */
export class StudyStore {
  readonly dir: string;
  readonly file: string;
  #db: Low<StudyRecord>;
  #queue: Promise<void> = Promise.resolve();
  #lock: StudyLock;

  private constructor(dir: string, db: Low<StudyRecord>, lock: StudyLock) {
    this.dir = dir;
    this.file = path.join(dir, STUDY_FILE);
    this.#db = db;
    this.#lock = lock;
  }

  /**
   * The stale lock this store took over when it opened (its owner had been killed), for the
   * study's log; null when the study was not locked.
   */
  get staleLock(): StaleLock | null {
    return this.#lock.replaced;
  }

  /** The lock this store holds (its owner record names this process). */
  get lock(): StudyLock {
    return this.#lock;
  }

  static #adapter(file: string) {
    return new DataFile<StudyRecord>(file, { parse: parseStudy, stringify: stringifyStudy });
  }

  /**
   * Creates a new study folder, locks it and writes its first record. Refuses to overwrite an
   * existing study, and refuses (UserError) while another process holds the folder's lock.
   */
  static async create(dir: string, record: StudyRecord): Promise<StudyStore> {
    const file = path.join(dir, STUDY_FILE);
    const exists = () =>
      new UserError(`A study already exists at ${dir}. Resume it with \`tune --resume ${path.basename(dir)}\`, or pick another name with --name.`);
    if (existsSync(file)) throw exists();
    await mkdir(dir, { recursive: true });
    const lock = StudyLock.acquire(dir);
    try {
      if (existsSync(file)) throw exists(); // created by another process before we locked
      const { schemaVersion: _, ...fields } = record;
      const db = new Low(StudyStore.#adapter(file), { schemaVersion: STUDY_SCHEMA_VERSION, ...fields });
      await db.write();
      return new StudyStore(dir, db, lock);
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  /**
   * Opens an existing study for writing (--resume): takes its lock, then reads the record.
   * Throws UserError when there is no study, or while another process holds the lock.
   */
  static async open(dir: string): Promise<StudyStore> {
    const file = path.join(dir, STUDY_FILE);
    readStudyFile(file); // a missing or unreadable study is reported before any lock is taken
    const lock = StudyLock.acquire(dir);
    try {
      // Read again under the lock: the previous writer may have saved in between.
      const db = new Low(StudyStore.#adapter(file), readStudyFile(file));
      return new StudyStore(dir, db, lock);
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  /** The current record. Treat it as read-only; change it through `update`. */
  get study(): Readonly<StudyRecord> {
    return this.#db.data;
  }

  /** Applies `change` and resolves once the file on disk holds it. Calls run in order. */
  update(change: (study: StudyRecord) => void): Promise<void> {
    if (!this.#lock.held) return Promise.reject(new Error(`the study store ${this.dir} is closed: its lock was released, so it may not write`));
    const next = this.#queue.then(async () => {
      change(this.#db.data);
      this.#db.data.updatedAt = new Date().toISOString();
      await this.#db.write();
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }

  run(id: number): RunRecord | undefined {
    return this.#db.data.runs.find((r) => r.id === id);
  }

  /**
   * Stores a finished run (replacing one with the same id, so a re-delivered result is idempotent);
   * it is no longer in flight.
   */
  saveRun(run: RunRecord): Promise<void> {
    return this.update((s) => {
      if (s.inFlight?.runId === run.id) s.inFlight = null;
      s.runs = s.runs.filter((r) => r.id !== run.id);
      s.runs.push(run);
      s.runs.sort((a, b) => a.id - b.id);
      s.budget.runsUsed = s.runs.filter((r) => r.kind !== 'final' && r.kind !== 'confirm').length;
    });
  }

  /**
   * Appends a decision to the log. The same decision delivered again (a resumed study asks the
   * policy again, and a deterministic policy answers the same) replaces the stored one.
   */
  saveDecision(decision: DecisionRecord): Promise<void> {
    const key = (d: DecisionRecord) =>
      JSON.stringify(d.by === 'machine' ? [d.afterRun, d.stage, d.machine, d.reason, 'machine'] : [d.afterRun, d.stage, d.decision, d.refused ?? null, 'policy']);
    return this.update((s) => {
      const same = s.decisions.findIndex((d) => key(d) === key(decision));
      if (same >= 0) s.decisions[same] = decision;
      else s.decisions.push(decision);
    });
  }

  /** Stores where the run in flight is (null: none), for readers of a running study. */
  saveInFlight(inFlight: InFlightRun | null): Promise<void> {
    return this.update((s) => {
      s.inFlight = inFlight;
    });
  }

  saveSnapshot(snapshot: unknown): Promise<void> {
    return this.update((s) => {
      s.snapshot = snapshot;
    });
  }

  /** Resolves when every queued write is on disk. */
  flush(): Promise<void> {
    return this.#queue;
  }

  /**
   * Waits for the queued writes, then releases the study's lock. Idempotent. The lock is released
   * even when a write fails (the failure is rethrown).
   */
  async close(): Promise<void> {
    try {
      await this.#queue;
    } finally {
      this.#lock.release();
    }
  }

  /** Releases the lock at once, without waiting for queued writes (synchronous, idempotent). */
  release(): void {
    this.#lock.release();
  }
}
