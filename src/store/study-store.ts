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
import type { DecisionRecord, RunRecord, StudyRecord } from '../types.ts';

export const STUDY_FILE = 'study.json';

/** JSON.stringify replacer keeping NaN and ±Infinity. */
function encodeNumber(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return { $num: String(value) };
  return value;
}

/** JSON.parse reviver undoing encodeNumber. */
function decodeNumber(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === '$num') return Number((value as { $num: string }).$num);
  }
  return value;
}

export function stringifyStudy(study: StudyRecord): string {
  return JSON.stringify(study, encodeNumber, 2);
}

export function parseStudy(text: string): StudyRecord {
  return JSON.parse(text, decodeNumber) as StudyRecord;
}

/** Reads a stored study file; a missing or unreadable file is a user error naming it. */
export function readStudyFile(file: string): StudyRecord {
  if (!existsSync(file)) {
    throw new UserError(`No study at ${path.dirname(file)}: ${file} does not exist. Run \`tune list\` to see the studies there.`);
  }
  try {
    return parseStudy(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UserError(`${file} is not a readable study file (${(error as Error).message}). It may have been edited by hand; restore it or start a new study.`);
  }
}

/**
 * A study's persistent record. Mutations are serialised: each `update` applies its change to
 * the in-memory record and waits until the file on disk holds it.
 */
export class StudyStore {
  readonly dir: string;
  readonly file: string;
  #db: Low<StudyRecord>;
  #queue: Promise<void> = Promise.resolve();

  private constructor(dir: string, db: Low<StudyRecord>) {
    this.dir = dir;
    this.file = path.join(dir, STUDY_FILE);
    this.#db = db;
  }

  static #adapter(file: string) {
    return new DataFile<StudyRecord>(file, { parse: parseStudy, stringify: stringifyStudy });
  }

  /** Creates a new study folder and writes its first record. Refuses to overwrite an existing study. */
  static async create(dir: string, record: StudyRecord): Promise<StudyStore> {
    const file = path.join(dir, STUDY_FILE);
    if (existsSync(file)) {
      throw new UserError(
        `A study already exists at ${dir}. Resume it with \`tune --resume ${path.basename(dir)}\`, or pick another name with --name.`,
      );
    }
    await mkdir(dir, { recursive: true });
    const db = new Low(StudyStore.#adapter(file), record);
    await db.write();
    return new StudyStore(dir, db);
  }

  /** Opens an existing study (for --resume and `tune report`). */
  static async open(dir: string): Promise<StudyStore> {
    const file = path.join(dir, STUDY_FILE);
    const record = readStudyFile(file);
    const db = new Low(StudyStore.#adapter(file), record);
    return new StudyStore(dir, db);
  }

  /** The current record. Treat it as read-only; change it through `update`. */
  get study(): Readonly<StudyRecord> {
    return this.#db.data;
  }

  /** Applies `change` and resolves once the file on disk holds it. Calls run in order. */
  update(change: (study: StudyRecord) => void): Promise<void> {
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

  /** Stores a finished run (replacing one with the same id, so a re-delivered result is idempotent). */
  saveRun(run: RunRecord): Promise<void> {
    return this.update((s) => {
      s.runs = s.runs.filter((r) => r.id !== run.id);
      s.runs.push(run);
      s.runs.sort((a, b) => a.id - b.id);
      s.budget.runsUsed = s.runs.filter((r) => r.verdict !== 'final' && r.verdict !== 'confirm').length;
    });
  }

  /**
   * Appends a decision to the log. The same decision delivered again (a resumed study asks the
   * policy again, and a deterministic policy answers the same) replaces the stored one.
   */
  saveDecision(decision: DecisionRecord): Promise<void> {
    const key = (d: DecisionRecord) => JSON.stringify([d.afterRun, d.stage, d.decision, d.refused ?? null, d.by ?? 'policy']);
    return this.update((s) => {
      const same = s.decisions.findIndex((d) => key(d) === key(decision));
      if (same >= 0) s.decisions[same] = decision;
      else s.decisions.push(decision);
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
}
