/**
 * One writer per study: an exclusive lock file, `<study>/study.lock`, held while a process works
 * on the study folder.
 *
 * - Created atomically and complete: the owner's record is written to a private temporary file
 *   which is then hard-linked to `study.lock` (link fails with EEXIST when a lock exists), so no
 *   reader ever sees a half-written lock.
 * - It names its owner: pid, hostname, boot id, the process's start time as the kernel counts it
 *   (Linux: field 22 of /proc/<pid>/stat, clock ticks since boot) and the command line. A pid is
 *   only the owner while the process with that pid has the same start time (and the machine has
 *   not rebooted), so a pid recycled by an unrelated process is not mistaken for the owner.
 * - A second process gets a UserError (exit 2) naming the running one. A lock whose owner is gone
 *   (pid dead, pid reused, machine rebooted) is stale: it is moved aside and taken over, and the
 *   new lock reports the previous owner so the caller can note it in the log.
 * - Released by `release()` (idempotent, synchronous, removes the file only while it is still
 *   ours) and, as a safety net, by a process 'exit' hook: normal exit, an uncaught error, and
 *   `process.exit()` from a signal handler all release it. A process killed outright (SIGKILL, or
 *   a signal it does not handle) leaves a stale lock, which the next process takes over.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../errors.ts';

export const LOCK_FILE = 'study.lock';

/** Who holds a study's lock, as written in the lock file. */
export interface LockOwner {
  pid: number;
  hostname: string;
  /** /proc/sys/kernel/random/boot_id of the owner's machine (null off Linux). */
  bootId: string | null;
  /** Field 22 of /proc/<pid>/stat: start time in clock ticks after boot (null off Linux). */
  startTicks: number | null;
  /** When the owner process started (ISO), for people. */
  startedAt: string;
  /** When it took the lock (ISO). */
  acquiredAt: string;
  /** The owner's command line (process.argv). */
  command: string[];
  /** Random token telling this acquisition apart from any other by the same pid. */
  token: string;
}

/** Why a lock was found stale and taken over. */
export interface StaleLock {
  owner: LockOwner | null;
  reason: string;
}

/** Reads field 22 (starttime) of /proc/<pid>/stat; null when the process does not exist or there is no /proc. */
export function processStartTicks(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Field 2 (comm) is in parentheses and may itself hold spaces and parentheses: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[22 - 3]);
  return Number.isFinite(ticks) ? ticks : null;
}

function bootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
}

/** True when a process with this pid exists (whoever owns it). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether the process recorded in a lock is still alive and is the same process: the lock is
 * held. Returns why not otherwise. A lock from another host cannot be checked and counts as held.
 */
export function ownerStatus(owner: LockOwner): { alive: true } | { alive: false; reason: string } {
  if (owner.hostname !== os.hostname()) return { alive: true };
  const here = bootId();
  if (owner.bootId && here && owner.bootId !== here) return { alive: false, reason: `the machine has rebooted since process ${owner.pid} took the lock` };
  if (!pidAlive(owner.pid)) return { alive: false, reason: `process ${owner.pid} no longer exists` };
  if (owner.startTicks !== null) {
    const ticks = processStartTicks(owner.pid);
    if (ticks !== null && ticks !== owner.startTicks) {
      return { alive: false, reason: `pid ${owner.pid} now belongs to another process (started at tick ${ticks}, the owner at tick ${owner.startTicks})` };
    }
  }
  return { alive: true };
}

function selfOwner(): LockOwner {
  return {
    pid: process.pid,
    hostname: os.hostname(),
    bootId: bootId(),
    startTicks: processStartTicks(process.pid),
    startedAt: new Date(Date.now() - process.uptime() * 1000).toISOString(),
    acquiredAt: new Date().toISOString(),
    command: [...process.argv],
    token: randomBytes(8).toString('hex'),
  };
}

function parseOwner(text: string): LockOwner | null {
  try {
    const owner = JSON.parse(text) as LockOwner;
    return Number.isInteger(owner?.pid) && typeof owner.hostname === 'string' && typeof owner.token === 'string' ? owner : null;
  } catch {
    return null;
  }
}

/** The owner recorded in a lock file; null when there is none, undefined when it cannot be parsed. */
export function readLockOwner(file: string): LockOwner | null | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  return parseOwner(text) ?? undefined;
}

/** `tune --resume x` rather than `/usr/bin/node /path/bin/tune.js --resume x`. */
function describeCommand(command: string[]): string {
  const [, script, ...args] = command;
  if (!script) return command.join(' ');
  const name = path.basename(script).replace(/\.(c|m)?[jt]s$/, '');
  return [name, ...args].join(' ');
}

function heldMessage(study: string, owner: LockOwner, file: string): string {
  const started = `started ${owner.startedAt}${owner.command.length ? `: ${describeCommand(owner.command)}` : ''}`;
  if (owner.hostname !== os.hostname()) {
    return (
      `study ${study} is being run by process ${owner.pid} on host ${owner.hostname} (${started}); ` +
      `wait for it, or stop it there. If that process is gone, delete ${file}.`
    );
  }
  return `study ${study} is being run by process ${owner.pid} (${started}); wait for it or stop it with \`kill ${owner.pid}\`.`;
}

/** Locks taken by this process and not released yet, for the exit hook. */
const held = new Set<StudyLock>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: release() is.
  process.on('exit', () => {
    for (const lock of [...held]) lock.release();
  });
}

/** A held study lock. */
export class StudyLock {
  readonly file: string;
  readonly owner: LockOwner;
  /** The stale lock this one replaced (to be noted in the study's log), or null. */
  readonly replaced: StaleLock | null;
  #released = false;

  private constructor(file: string, owner: LockOwner, replaced: StaleLock | null) {
    this.file = file;
    this.owner = owner;
    this.replaced = replaced;
  }

  /**
   * Takes the lock of the study folder `dir` (which must exist). Throws UserError when a live
   * process holds it; takes over a stale one.
   */
  static acquire(dir: string): StudyLock {
    const file = path.join(dir, LOCK_FILE);
    const study = path.basename(dir);
    const owner = selfOwner();
    const tmp = `${file}.${owner.pid}.${owner.token}.tmp`;
    writeFileSync(tmp, JSON.stringify(owner, null, 2) + '\n', { flag: 'wx' });
    let replaced: StaleLock | null = null;
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          linkSync(tmp, file); // atomic, fails with EEXIST when a lock exists
          const lock = new StudyLock(file, owner, replaced);
          held.add(lock);
          installExitHook();
          return lock;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        const current = readLockOwner(file);
        if (current === null) continue; // released in between: try again
        if (current === undefined) {
          // Unparseable: a lock file edited by hand or cut by a full disk. Young: someone may be mid-write.
          const age = Date.now() - statSync(file).mtimeMs;
          if (age < 5000) throw new UserError(`study ${study} is being locked by another process right now (${file}); try again in a few seconds.`);
          if (takeOver(file, undefined)) replaced = { owner: null, reason: `the lock file ${file} could not be read` };
          continue;
        }
        const status = ownerStatus(current);
        if (status.alive) throw new UserError(heldMessage(study, current, file));
        if (takeOver(file, current)) replaced = { owner: current, reason: status.reason };
      }
      throw new UserError(`study ${study}: could not take the lock ${file} (other processes keep changing it); try again.`);
    } finally {
      unlinkSync(tmp);
    }
  }

  /** True until released. */
  get held(): boolean {
    return !this.#released;
  }

  /**
   * Removes the lock file if it is still this lock. Idempotent and synchronous (safe in an 'exit'
   * handler); never throws.
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    held.delete(this);
    try {
      const current = readLockOwner(this.file);
      if (current && current.token === this.owner.token) unlinkSync(this.file);
    } catch {
      // Already gone, or the folder was removed: nothing to release.
    }
  }
}

/**
 * Moves a stale lock aside, atomically, so that of several processes taking over the same stale
 * lock only one removes it. Returns false (and puts back what it moved) when the file moved turns
 * out not to be the stale lock it looked at, e.g. another process took it over first.
 */
function takeOver(file: string, stale: LockOwner | undefined): boolean {
  const aside = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.stale`;
  try {
    renameSync(file, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  const moved = readLockOwner(aside);
  const same = stale === undefined ? moved === undefined : moved?.token === stale.token;
  if (!same) {
    try {
      linkSync(aside, file); // someone else's live lock: put it back
    } catch {
      // A third process locked in between; the lock we moved belongs to a process that will
      // find its file replaced and will not remove the new one (release checks the token).
    }
    unlinkSync(aside);
    return false;
  }
  unlinkSync(aside);
  return true;
}
