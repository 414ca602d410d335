// Starts a real `huddle serve` for end-to-end tests: built with cargo (or
// HUDDLE_BIN), on a free loopback port, with a temporary data dir and a
// known admin key; rooms and tokens through the admin API; kill -9 and a
// restart on the same port and data dir.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ADMIN_KEY = 'js-test-admin-key-0123456789';
const repoRoot = resolve(fileURLToPath(new URL('../../../../', import.meta.url)));

/** @type {string | null} */
let built = null;

/** The `huddle` binary: HUDDLE_BIN, or built now with cargo (debug). */
export function huddleBinary() {
  if (process.env.HUDDLE_BIN) return process.env.HUDDLE_BIN;
  if (built) return built;
  const r = spawnSync('cargo', ['build', '--quiet', '-p', 'huddle-server', '--bin', 'huddle'], {
    cwd: repoRoot,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`cargo build -p huddle-server failed (${r.status ?? r.error})`);
  const target = process.env.CARGO_TARGET_DIR ? resolve(repoRoot, process.env.CARGO_TARGET_DIR) : join(repoRoot, 'target');
  built = join(target, 'debug', 'huddle');
  return built;
}

/** @returns {Promise<number>} a free loopback port */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => res(port));
    });
  });
}

/**
 * Polls `check` until it returns a truthy value (bounded).
 * @template T
 * @param {string} what
 * @param {() => T | Promise<T>} check
 * @param {number} [timeoutMs]
 * @returns {Promise<T>}
 */
export async function waitFor(what, check, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class HuddleServer {
  /** @param {string[]} flags */
  constructor(flags) {
    this.flags = flags;
    this.dir = mkdtempSync(join(tmpdir(), 'huddle-js-'));
    this.port = 0;
    /** @type {import('node:child_process').ChildProcess | null} */
    this.child = null;
  }

  /**
   * Starts a server (extra flags, e.g. ['--demo']).
   * @param {string[]} [flags]
   */
  static async start(flags = []) {
    const s = new HuddleServer(flags);
    s.port = await freePort();
    await s.spawn();
    return s;
  }

  get addr() {
    return `127.0.0.1:${this.port}`;
  }

  /** @param {string} path */
  url(path) {
    return `http://${this.addr}${path}`;
  }

  get wsUrl() {
    return `ws://${this.addr}/ws`;
  }

  log() {
    try {
      return readFileSync(join(this.dir, 'server.log'), 'utf8');
    } catch {
      return '';
    }
  }

  async spawn() {
    const log = openSync(join(this.dir, 'server.log'), 'a');
    this.child = spawn(huddleBinary(), [
      'serve', '--listen', this.addr, '--data-dir', join(this.dir, 'data'), '--admin-key', ADMIN_KEY, ...this.flags,
    ], { stdio: ['ignore', log, log] });
    const child = this.child;
    await waitFor('huddle serve to answer /healthz', async () => {
      if (child.exitCode !== null) throw new Error(`huddle serve exited with ${child.exitCode}:\n${this.log()}`);
      const r = await fetch(this.url('/healthz'));
      return r.status === 200;
    }, 30_000);
  }

  /** SIGKILL and wait for the exit. */
  async kill9() {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  /** Starts again on the same port and data dir. */
  async restart() {
    await this.spawn();
  }

  async stop() {
    await this.kill9();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @returns {Promise<{ status: number, body: any }>}
   */
  async admin(method, path, body) {
    const r = await fetch(this.url(path), {
      method,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: r.status, body: json };
  }

  /** @param {string} id @param {'ephemeral' | 'persistent'} [kind] */
  async room(id, kind = 'persistent') {
    const r = await this.admin('POST', '/rooms', { id, name: `Room ${id}`, session_type: kind });
    if (r.status !== 201) throw new Error(`POST /rooms: ${r.status} ${JSON.stringify(r.body)}`);
  }

  /** @param {string} user @param {string} room @param {number} [ttlSeconds] @returns {Promise<string>} */
  async token(user, room, ttlSeconds) {
    /** @type {Record<string, unknown>} */
    const body = { user_id: user, display_name: `User ${user}`, room_id: room };
    if (ttlSeconds !== undefined) body.ttl_seconds = ttlSeconds;
    const r = await this.admin('POST', '/users', body);
    if (r.status !== 201) throw new Error(`POST /users: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.token;
  }

  /** @param {string} room @returns {Promise<number>} the board's sequence */
  async sequence(room) {
    const r = await this.admin('GET', `/rooms/${room}`);
    return r.body.sequence;
  }
}
