/**
 * One writer per study: the lock file, in this process (ownership, release) and with real
 * processes (a second writer refused, a SIGKILLed owner taken over, a recycled pid, release on
 * exit, on an uncaught error and on a signal handler's exit).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { UserError } from '../../src/errors.ts';
import { LOCK_FILE, processStartTicks, readLockOwner, StudyLock, type LockOwner } from '../../src/store/lock.ts';
import { StudyStore } from '../../src/store/study-store.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = path.join(ROOT, 'test/store/fixtures/study-process.ts');
const TUNE = path.join(ROOT, 'bin/tune.js');
const onLinux = existsSync('/proc/self/stat');

async function studyDir(name = 'study'): Promise<string> {
  const dir = path.join(await mkdtemp(path.join(tmpdir(), 'lock-')), name);
  await mkdir(dir, { recursive: true });
  return dir;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** Starts the study process; resolves with its first stdout line (parsed) once it holds the lock. */
function startHolder(dir: string, how: 'create' | 'open', then: 'hold' | 'exit' | 'throw') {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, dir, how, then], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const ready = new Promise<{ pid: number; staleLock: { owner: LockOwner | null; reason: string } | null }>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)));
    });
    child.on('exit', (code) => reject(new Error(`study process exited (${code}) before holding the lock: ${stderr}`)));
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, ready, exited };
}

/** Runs the study process to its end. */
function runProcess(dir: string, how: 'create' | 'open', then: 'exit' | 'throw') {
  const r = spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, dir, how, then], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  const first = r.stdout.split('\n')[0];
  return { code: r.status, stdout: first ? JSON.parse(first) : null, stderr: r.stderr };
}

function owner(dir: string): LockOwner {
  const o = readLockOwner(path.join(dir, LOCK_FILE));
  if (!o) throw new Error(`no readable lock in ${dir}`);
  return o;
}

describe('StudyLock in one process', () => {
  test('records who holds it: pid, host, start time (Linux: /proc/<pid>/stat field 22), command', async () => {
    const dir = await studyDir();
    const lock = StudyLock.acquire(dir);
    const o = owner(dir);
    expect(o).toMatchObject({ pid: process.pid, command: process.argv });
    if (onLinux) {
      expect(o.startTicks).toBe(processStartTicks(process.pid));
      expect(o.startTicks).toBeGreaterThan(0);
    }
    expect(Date.parse(o.startedAt)).toBeLessThanOrEqual(Date.now());
    expect(lock.replaced).toBeNull();
    lock.release();
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    lock.release(); // idempotent
    expect(await readdir(dir)).toEqual([]); // no temporary file left
  });

  test('a second acquisition while held is a UserError naming the holder and how to stop it', async () => {
    const dir = await studyDir('busy');
    const lock = StudyLock.acquire(dir);
    let error: unknown;
    try {
      StudyLock.acquire(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(new RegExp(`^study busy is being run by process ${process.pid} \\(started .*\\); wait for it or stop it with \`kill ${process.pid}\``));
    lock.release();
    StudyLock.acquire(dir).release(); // free again
  });

  test('release leaves alone a lock that is no longer its own', async () => {
    const dir = await studyDir();
    const lock = StudyLock.acquire(dir);
    const file = path.join(dir, LOCK_FILE);
    const other = { ...owner(dir), token: 'someone-else' };
    writeFileSync(file, JSON.stringify(other));
    lock.release();
    expect(readLockOwner(file)).toEqual(other);
  });

  test('an unreadable lock file: refused while fresh (someone may be writing it), taken over once old', async () => {
    const dir = await studyDir('garbled');
    const file = path.join(dir, LOCK_FILE);
    writeFileSync(file, '{"pid": 12');
    expect(() => StudyLock.acquire(dir)).toThrow(/study garbled is being locked by another process right now/);
    const old = new Date(Date.now() - 60_000);
    utimesSync(file, old, old);
    const lock = StudyLock.acquire(dir);
    expect(lock.replaced).toEqual({ owner: null, reason: `the lock file ${file} could not be read` });
    expect(owner(dir).token).toBe(lock.owner.token);
    lock.release();
  });

  test('a lock held on another host cannot be checked from here: refused, saying where and how to clear it', async () => {
    const dir = await studyDir('shared');
    const file = path.join(dir, LOCK_FILE);
    const first = StudyLock.acquire(dir);
    writeFileSync(file, JSON.stringify({ ...first.owner, hostname: 'elsewhere', pid: 4242, token: 'theirs' }));
    expect(() => StudyLock.acquire(dir)).toThrow(
      new RegExp(`^study shared is being run by process 4242 on host elsewhere \\(started .*\\); wait for it, or stop it there\\. If that process is gone, delete ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.$`),
    );
    first.release(); // not ours any more: left in place
    expect(readLockOwner(file)?.hostname).toBe('elsewhere');
  });

  test('a lock from a rebooted machine is stale', async () => {
    if (!existsSync('/proc/sys/kernel/random/boot_id')) return;
    const dir = await studyDir();
    const first = StudyLock.acquire(dir);
    const file = path.join(dir, LOCK_FILE);
    writeFileSync(file, JSON.stringify({ ...first.owner, bootId: 'another-boot', token: 'old' }));
    const second = StudyLock.acquire(dir);
    expect(second.replaced?.reason).toMatch(/rebooted/);
    second.release();
    first.release();
  });

  test('StudyStore: create and open for writing lock the study, close releases it; a closed store may not write', async () => {
    const dir = path.join(await mkdtemp(path.join(tmpdir(), 'lock-')), 'stored');
    const record = JSON.parse(readFileSync(path.join(ROOT, 'reports/example/study.json'), 'utf8'));
    const store = await StudyStore.create(dir, record);
    expect(owner(dir).pid).toBe(process.pid);
    await expect(StudyStore.open(dir)).rejects.toThrow(`study stored is being run by process ${process.pid}`);
    await store.close();
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    await expect(store.update(() => undefined)).rejects.toThrow(/closed/);
    const reopened = await StudyStore.open(dir);
    expect(reopened.staleLock).toBeNull();
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(true);
    reopened.release();
    await reopened.close(); // idempotent
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  });
});

describe('StudyLock between real processes', () => {
  test('a second process on a running study is refused: `tune --resume` exits 2 naming the running pid', async () => {
    const dir = path.join(await mkdtemp(path.join(tmpdir(), 'lock-')), 'busy');
    const holder = startHolder(dir, 'create', 'hold');
    const { pid } = await holder.ready;
    expect(owner(dir).pid).toBe(pid);

    const second = spawnSync(process.execPath, [TUNE, '--resume', 'busy', '--reports', path.dirname(dir)], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(second.status).toBe(2);
    expect(second.stderr).toMatch(new RegExp(`study busy is being run by process ${pid} \\(started [^)]*study-process ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} create hold\\); wait for it or stop it with \`kill ${pid}\``));
    expect(second.stderr).not.toMatch(/\n\s+at /);
    // The holder's lock is untouched.
    expect(owner(dir).pid).toBe(pid);

    // SIGTERM: the holder's handler ends with process.exit, which releases the lock.
    holder.child.kill('SIGTERM');
    expect((await holder.exited).code).toBe(143);
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  });

  test('a process killed with SIGKILL leaves a stale lock; the next process takes it over and notes whose it was', async () => {
    const dir = path.join(await mkdtemp(path.join(tmpdir(), 'lock-')), 'killed');
    const holder = startHolder(dir, 'create', 'hold');
    const { pid } = await holder.ready;
    holder.child.kill('SIGKILL');
    expect((await holder.exited).signal).toBe('SIGKILL');
    expect(owner(dir).pid).toBe(pid); // left behind

    const next = runProcess(dir, 'open', 'exit');
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout.staleLock.owner.pid).toBe(pid);
    expect(next.stdout.staleLock.reason).toBe(`process ${pid} no longer exists`);
    // The next process exited normally without closing the store: its exit hook released the lock.
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  });

  test.skipIf(!onLinux)('a lock whose pid now belongs to an unrelated process is stale (start times differ)', async () => {
    const dir = path.join(await mkdtemp(path.join(tmpdir(), 'lock-')), 'recycled');
    const holder = startHolder(dir, 'create', 'hold');
    await holder.ready;
    holder.child.kill('SIGKILL');
    await holder.exited;
    // The kernel hands the dead owner's pid to another process: an unrelated, live process now has
    // the recorded pid (its own start time, not the owner's).
    const unrelated = spawn('sleep', ['60'], { stdio: 'ignore' });
    children.push(unrelated);
    const stale = owner(dir);
    writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ ...stale, pid: unrelated.pid }));
    expect(processStartTicks(unrelated.pid!)).not.toBe(stale.startTicks);

    const next = runProcess(dir, 'open', 'exit');
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout.staleLock.owner.pid).toBe(unrelated.pid);
    expect(next.stdout.staleLock.reason).toMatch(new RegExp(`^pid ${unrelated.pid} now belongs to another process`));
    expect(unrelated.exitCode).toBeNull(); // the unrelated process is left alone
  });

  test('a live owner with the same pid and start time is not stale', async () => {
    const dir = path.join(await mkdtemp(path.join(tmpdir(), 'lock-')), 'alive');
    const holder = startHolder(dir, 'create', 'hold');
    const { pid } = await holder.ready;
    const next = runProcess(dir, 'open', 'exit');
    expect(next.code).toBe(2);
    expect(next.stderr).toContain(`is being run by process ${pid}`);
    holder.child.kill('SIGKILL');
    await holder.exited;
  });

  test('an uncaught error after opening releases the lock (exit 1)', async () => {
    const dir = path.join(await mkdtemp(path.join(tmpdir(), 'lock-')), 'crashing');
    const crash = runProcess(dir, 'create', 'throw');
    expect(crash.code).toBe(1);
    expect(crash.stderr).toMatch(/a bug after the study was opened/);
    expect(existsSync(path.join(dir, 'study.json'))).toBe(true);
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  });
});
