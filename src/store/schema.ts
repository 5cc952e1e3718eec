/**
 * The stored study format's version, and the one place that brings an older stored record up to
 * date. `readStudyFile`, `parseStudy` and `StudyStore` call `migrateStudyRecord` on everything they
 * read; the store writes the current version.
 *
 * When the shape of StudyRecord (records.ts) changes: bump STUDY_SCHEMA_VERSION, and add to MIGRATIONS the step
 * from the previous version (a pure function from the old record to the new one, written against
 * the old shape as plain JSON, so old files keep loading however far back they are).
 *
 * History:
 *   1  files written before `schemaVersion` existed (no field).
 *   2  adds `schemaVersion`; the shape is otherwise that of version 1. Later, still version 2: the
 *      optional `inFlight` (the run being trained), absent in older records and ignored by older
 *      readers, so no migration is needed either way; so is the optional `config.policyObject` (the
 *      study was started by runStudy with a policy object; an older flowtune resuming it looks for
 *      a policy file of that name, and says it is not found).
 *   3  every run has a `kind` (search, replicate, confirm, final) apart from its verdict; older runs
 *      take it from the verdict, which was both until then. The machine's own decisions are records
 *      of their own ({ by: 'machine', machine, reason }) instead of posing as a policy's `stop`;
 *      older ones without `machine` take it from their sentence ('other' when it names none).
 */
import { UserError } from '../errors.ts';
import type { StudyRecord } from './records.ts';
import type { RunKind } from '../types.ts';

/** The version this flowtune writes. */
export const STUDY_SCHEMA_VERSION = 3;

/**
 * A study before its first run, in the current version: the caller's configuration, dataset and
 * policy (and any other field it gives), the rest as every new study starts. The one place that
 * spells out a new record (the study runner and the tests' fixtures build on it).
 */
export function startingStudyRecord(fields: Pick<StudyRecord, 'config' | 'dataset' | 'policy'> & Partial<StudyRecord>): StudyRecord {
  const now = new Date().toISOString();
  const start: StudyRecord = {
    schemaVersion: STUDY_SCHEMA_VERSION,
    config: fields.config,
    createdAt: now,
    updatedAt: now,
    status: 'running',
    statusReason: null,
    dataset: fields.dataset,
    backend: null,
    policy: fields.policy,
    budget: { secondsUsed: 0, runsUsed: 0, exhausted: false },
    runs: [],
    decisions: [],
    incumbentId: null,
    final: null,
    snapshot: null,
  };
  return { ...start, ...fields };
}

/** A stored record as read from disk, before migration: plain JSON of some version. */
type StoredRecord = Record<string, unknown>;

/** MIGRATIONS[v] turns a version-v record into a version-(v+1) record. */
const MIGRATIONS: Record<number, (record: StoredRecord) => StoredRecord> = {
  // 1 → 2: nothing changes in the shape; the version is stamped.
  1: (record) => ({ ...record, schemaVersion: 2 }),
  // 2 → 3: each run's kind, from the verdict that stood for it; the machine's decisions as records of their own.
  2: (record) => ({
    ...record,
    schemaVersion: 3,
    runs: Array.isArray(record.runs) ? record.runs.map((run: unknown) => (isObject(run) ? { ...run, kind: kindFromVerdict(run.verdict) } : run)) : record.runs,
    decisions: Array.isArray(record.decisions) ? record.decisions.map((d: unknown) => (isObject(d) && d.by === 'machine' ? ownMachineRecord(d) : d)) : record.decisions,
  }),
};

const isObject = (value: unknown): value is StoredRecord => value !== null && typeof value === 'object' && !Array.isArray(value);

/** A version-2 machine decision ({ decision: { action: 'stop', params, reason }, by, machine? }) as a record of its own. */
function ownMachineRecord(d: StoredRecord): StoredRecord {
  const { decision, refused: _, machine, ...rest } = d;
  const reason = isObject(decision) && typeof decision.reason === 'string' ? decision.reason : '';
  return { ...rest, machine: typeof machine === 'string' ? machine : machineKindOf(reason), reason };
}

/** What a machine decision written before its `machine` field was about, from its sentence. */
function machineKindOf(reason: string): string {
  if (/^budget:/.test(reason)) return 'budget';
  if (/^final run:/.test(reason)) return 'finalRun';
  if (/^final weights:/.test(reason)) return 'finalWeights';
  if (/^--no-final-full/.test(reason)) return 'noFinalFull';
  if (/confirmation|finalised|both train on all/.test(reason)) return 'finalists';
  return 'other';
}

/** A version-2 run's kind: its verdict said it for replicates, confirmation sides and final runs. */
export function kindFromVerdict(verdict: unknown): RunKind {
  return verdict === 'replicate' || verdict === 'confirm' || verdict === 'final' ? verdict : 'search';
}

/** The version a stored record declares; a record without the field is version 1. */
export function storedSchemaVersion(record: StoredRecord, source: string): number {
  const version = record.schemaVersion;
  if (version === undefined) return 1;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    throw new UserError(`${source}: schemaVersion ${JSON.stringify(version)} is not a version number (1, 2, ...). The file may have been edited by hand; restore it or start a new study.`);
  }
  return version;
}

/**
 * Brings a stored study record (parsed JSON of any known version) to the current version.
 * Throws UserError naming `source` for a record that is not an object, or that was written by a
 * newer flowtune (an unknown version).
 */
export function migrateStudyRecord(stored: unknown, source: string): StudyRecord {
  if (stored === null || typeof stored !== 'object' || Array.isArray(stored)) {
    throw new UserError(`${source} is not a study record (expected a JSON object). Restore it or start a new study.`);
  }
  let record = stored as StoredRecord;
  let version = storedSchemaVersion(record, source);
  if (version > STUDY_SCHEMA_VERSION) {
    throw new UserError(
      `${source} was written by a newer flowtune (study format version ${version}; this flowtune reads up to version ${STUDY_SCHEMA_VERSION}): ` +
        `upgrade flowtune to use this study, or start a new study.`,
    );
  }
  while (version < STUDY_SCHEMA_VERSION) {
    const step = MIGRATIONS[version];
    if (!step) throw new Error(`no migration of the study format from version ${version} to ${version + 1}`);
    record = step(record);
    version += 1;
  }
  // Stamp the version first in the record, so it heads the file on disk.
  const { schemaVersion: _, ...rest } = record;
  return { schemaVersion: STUDY_SCHEMA_VERSION, ...rest } as unknown as StudyRecord;
}
