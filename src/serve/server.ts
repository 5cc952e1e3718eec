/**
 * `tune serve`: starts the read-only HTTP server over a reports folder (the routes: app.ts) and
 * turns what can go wrong when it starts (no reports folder, a port in use, an address this
 * machine does not have) into user errors that say what, where and what to do.
 */
import { statSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { UserError } from '../errors.ts';
import { machineDiagram } from '../machine/diagram.ts';
import { tuneMachine } from '../machine/machine.ts';
import { createApp } from './app.ts';

export interface ServeOptions {
  reportsDir: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** How often event streams look at the records on disk (ms). Default 500. */
  pollMs?: number;
}

export interface RunningServer {
  /** http://host:port/ */
  url: string;
  host: string;
  port: number;
  /** Stops accepting requests and ends open event streams. */
  close(): Promise<void>;
}

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8080;

/** Whether `host` is a loopback address or name (only this machine can connect). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** The warning printed when the server is reachable from other machines, or null. */
export function exposureWarning(host: string, port: number): string | null {
  if (isLoopback(host)) return null;
  return (
    `warning: --host ${host} makes every study under the reports folder readable by anyone who can reach this machine on port ${port} ` +
    `(no password; the server is read-only). Use the default, 127.0.0.1, unless that is what you want.`
  );
}

function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  switch (error.code) {
    case 'EADDRINUSE':
      return new UserError(`Port ${port} on ${host} is already in use (another \`tune serve\`?): pick another with --port N, or --port 0 for any free port.`);
    case 'EACCES':
      return new UserError(`Port ${port} on ${host} needs privileges this process does not have: use a port above 1023, e.g. --port 8080.`);
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new UserError(`--host ${host} is not an address of this machine: use 127.0.0.1 (the default), or 0.0.0.0 for every interface.`);
    default:
      return error;
  }
}

/** Starts the server; resolves once it listens. */
export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const host = opts.host ?? DEFAULT_HOST;
  const port = opts.port ?? DEFAULT_PORT;
  let isDir = false;
  try {
    isDir = statSync(opts.reportsDir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) {
    throw new UserError(
      `No reports folder at ${opts.reportsDir}: studies are kept there once \`tune --data fashion\` runs one. ` +
        'Start a study first, run `tune serve` from the folder that holds reports/, or name it with --reports DIR.',
    );
  }
  const app = createApp({ reportsDir: opts.reportsDir, diagram: machineDiagram(tuneMachine), loopbackOnly: isLoopback(host), pollMs: opts.pollMs });
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(listenError(error, host, port)));
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${bound}/`,
    host,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
