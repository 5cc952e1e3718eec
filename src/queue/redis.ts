/**
 * Connections to the Redis that holds the job queue: a URL (redis://, or rediss:// for TLS; a
 * password in the URL), checked before anything else so that an unreachable Redis is a user error
 * at the start, naming the URL, not a hang an hour into a study.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { UserError } from '../errors.ts';
import { redactUrl } from './protocol.ts';

/** How long a start-up check waits for Redis to answer. */
export const CONNECT_TIMEOUT_MS = 5000;

/** Options of the long-lived connections BullMQ needs (blocking commands: no per-request retry limit). */
export function blockingOptions(): RedisOptions {
  return { maxRetriesPerRequest: null, enableReadyCheck: true };
}

/** A new connection to `url` (ioredis reads redis:// and rediss://, user, password and database from it). */
export function connect(url: string, options: RedisOptions = blockingOptions()): Redis {
  return new Redis(url, options);
}

/** Parses --redis: a redis:// or rediss:// URL, or a user error saying what to give. */
export function checkRedisUrl(url: string, flag = '--redis'): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError(`${flag} ${url} is not a URL: give e.g. redis://127.0.0.1:6379, redis://:PASSWORD@HOST:6379/0, or rediss://HOST:6380 for TLS.`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new UserError(`${flag} ${redactUrl(url)}: the scheme must be redis:// or rediss:// (TLS), not ${parsed.protocol}//.`);
  }
  return url;
}

/** Answers a PING within CONNECT_TIMEOUT_MS, or throws a user error naming the URL and what to do. */
export async function checkReachable(url: string, what: string): Promise<void> {
  checkRedisUrl(url);
  const client = connect(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: CONNECT_TIMEOUT_MS, retryStrategy: () => null, enableOfflineQueue: false });
  let cause: Error | null = null; // the connection's own error (a refused password, an untrusted certificate) says more than "closed"
  client.on('error', (error: Error) => (cause ??= error));
  try {
    await withTimeout(client.connect().then(() => client.ping()), CONNECT_TIMEOUT_MS);
  } catch (error) {
    const reason = (cause as Error | null)?.message || (error as Error).message || 'no answer';
    throw new UserError(
      `cannot reach Redis at ${redactUrl(url)} (${reason}), needed for ${what}. ` +
        'Start Redis there (e.g. `redis-server --port 6379`), or correct --redis (redis://[:PASSWORD@]HOST:PORT[/DB], rediss:// for TLS).',
    );
  } finally {
    client.disconnect();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
