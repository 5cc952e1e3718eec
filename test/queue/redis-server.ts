/**
 * A real Redis for the queue tests: Debian's redis-server on 127.0.0.1, a free port, no
 * persistence, started and stopped by the test (and installed by .ci/run).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';

export const REDIS_SERVER = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p)) ?? null;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

export interface RedisOptions {
  port?: number;
  /** requirepass */
  password?: string;
  /** TLS only (no plain port): a certificate and key for localhost (the client needs the certificate as its CA). */
  tls?: { cert: string; key: string };
}

/** Starts redis-server on `port` (default: a free one) and waits until it accepts connections. */
export async function startRedis(portOrOptions?: number | RedisOptions): Promise<RedisServer> {
  if (!REDIS_SERVER) throw new Error('redis-server is not installed (apt-get install redis-server; .ci/run installs it)');
  const options: RedisOptions = typeof portOrOptions === 'number' ? { port: portOrOptions } : portOrOptions ?? {};
  const p = options.port ?? (await freePort());
  const listen = options.tls
    ? ['--port', '0', '--tls-port', String(p), '--tls-cert-file', options.tls.cert, '--tls-key-file', options.tls.key, '--tls-ca-cert-file', options.tls.cert, '--tls-auth-clients', 'no']
    : ['--port', String(p)];
  const auth = options.password ? ['--requirepass', options.password] : [];
  const child = spawn(REDIS_SERVER, [...listen, ...auth, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start on ${p}: ${output}`)), 10_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (/Ready to accept connections/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}): ${output}`));
    });
  });
  child.removeAllListeners('exit');
  const credentials = options.password ? `:${encodeURIComponent(options.password)}@` : '';
  return {
    url: options.tls ? `rediss://${credentials}localhost:${p}` : `redis://${credentials}127.0.0.1:${p}`,
    port: p,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    },
  };
}

/** A self-signed certificate for localhost (openssl), for a TLS Redis. */
export function selfSignedCertificate(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  return { cert, key };
}

/** redis-cli against a test server (for reading the queue's state). */
export function redisCli(port: number, ...args: string[]): string {
  return spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout.trim();
}
