// Shared by the browser tests: a ticketd process to test against and the
// Chromium they drive. TICKETD_BIN is the binary under test (built from the
// repository, once per test file, when unset).
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { chromium } from 'playwright-core';

const repo = fileURLToPath(new URL('../..', import.meta.url));
export const work = mkdtempSync(join(tmpdir(), 'ticketd-browser-'));
export const ANALYST_KEY = 'analyst-key-for-the-browser-tests';
export const CLERK_KEY = 'clerk-key-for-the-browser-tests';

// The launch flags keep Chromium from reaching any host but the service.
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

let bin = process.env.TICKETD_BIN;

before(() => {
  if (!bin) {
    bin = join(work, 'ticketd');
    execFileSync('go', ['build', '-o', bin, './cmd/ticketd'], { cwd: repo, stdio: 'inherit' });
  }
});

after(() => rmSync(work, { recursive: true, force: true }));

function freePort() {
  return new Promise((ok, fail) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
    srv.on('error', fail);
  });
}

export const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

// Ticketd is one ticketd process on a fixed address and database, so it can
// be stopped and started again where it was.
export class Ticketd {
  constructor(name, env = {}) {
    this.db = join(work, name, 'app.db');
    this.env = env;
  }

  async start() {
    this.port ??= await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
    this.proc = spawn(bin, ['serve', '--addr', `127.0.0.1:${this.port}`, '--db', this.db, '--log-level', 'warn'],
      { env: { ...process.env, ...this.env }, stdio: ['ignore', 'ignore', 'inherit'] });
    this.exited = new Promise((ok) => this.proc.on('exit', ok));
    for (let i = 0; i < 200; i++) {
      try {
        if ((await fetch(`${this.base}/healthz`)).ok) return;
      } catch { /* not listening yet */ }
      await sleep(50);
    }
    throw new Error('ticketd did not start');
  }

  async stop() {
    this.proc.kill('SIGTERM');
    await this.exited;
  }

  async call(method, path, body, headers = {}) {
    const res = await fetch(this.base + path, {
      method, headers: { 'Content-Type': 'application/json', ...headers }, body: body && JSON.stringify(body),
    });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
    return { body: JSON.parse(text), position: Number(res.headers.get('Ticketd-Position')) };
  }

  issue(ticket, headers) {
    return this.call('POST', '/tickets/issue', { user_id: 'u', quantity: 1, ...ticket }, headers);
  }

  refund(ids, headers) {
    return this.call('POST', '/tickets/refund', { ticket_ids: ids }, headers);
  }
}

// started returns a started Ticketd.
export async function started(name, env) {
  const svc = new Ticketd(name, env);
  await svc.start();
  return svc;
}

// openPage opens path of svc in a fresh Chromium profile at the given
// viewport and records what the page logs and requests.
export async function openPage(svc, path, viewport = { width: 1280, height: 900 }) {
  const profile = mkdtempSync(join(work, 'profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS, viewport, locale: 'ko-KR',
  });
  const page = context.pages()[0] ?? await context.newPage();
  const seen = { errors: [], requests: [] };
  page.on('console', (msg) => { if (msg.type() === 'error') seen.errors.push(msg.text()); });
  page.on('pageerror', (err) => seen.errors.push(String(err)));
  page.on('request', (req) => seen.requests.push(req));
  await page.goto(`${svc.base}${path}`);
  return { context, page, seen, close: () => context.close() };
}
