'use strict';
// chromium_test.js: headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) against duplex-server: the echo page as a person uses it,
// and the browser's own WebSocket client against /echo, without and (on a
// second server started with --deflate) with permessage-deflate agreed.
//
//   node tests/interop/chromium_test.js PATH/duplex-server
//   (or DUPLEX_SERVER=PATH/duplex-server node tests/interop/chromium_test.js)
//
// Needs tests/interop/node_modules (npm ci --prefix tests/interop) and the
// chromium package. CHROMIUM=/path overrides the browser binary.
//
// Runs in the root network namespace and uses only 127.0.0.1 (no WebRTC here,
// so nothing else gets gathered). Cleanup, on every path: the server is
// started detached (its own process group) and that group is killed; Chromium
// (Playwright puts it in a process group of its own, which a signal to this
// process would not reach) is closed through the context, by the watchdog too;
// TMPDIR (which holds Chromium's user-data-dir and its SingletonSocket
// directories) is a fresh directory, removed at the end.
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const readline = require('readline');
const { loadChromium, chromiumHome, armWatchdog, onSignals } = require('./lib/chromium');

const WATCHDOG_MS = +(process.env.WATCHDOG_MS || 90000);
const SERVER = process.argv[2] || process.env.DUPLEX_SERVER;
const WEB_DIR = path.resolve(__dirname, '..', '..', 'web');

const say = (...a) => console.log('[chromium_test]', ...a);
let server = null;
let deflateServer = null;   // the second server, started with --deflate
let home = null;   // lib/chromium.js: the fresh TMPDIR, Chromium's user-data-dir in it, its context
let finishing = false;

function killServer() {
  for (const s of [server, deflateServer]) {
    if (s && s.exitCode === null && s.signalCode === null) {
      try { process.kill(-s.pid, 'SIGKILL'); } catch (e) { /* already gone */ }
    }
  }
}
async function finish(code, why) {
  if (finishing) return;
  finishing = true;
  if (why) say(why);
  if (home) await home.close();
  killServer();
  if (home) home.remove();
  say(code === 0 ? 'PASS' : 'FAIL');
  process.exit(code);
}

// Watchdog: close the browser (it would outlive us otherwise), kill the server.
armWatchdog(WATCHDOG_MS, finish);
onSignals((sig, code) => finish(code, `FAIL got ${sig}`));
// Last resort on any exit path (synchronous: only what can be done synchronously).
process.on('exit', () => { if (home) home.kill(); killServer(); if (home) home.remove(); });

// Starts duplex-server with extra arguments; the process goes through `onSpawn` (so that the
// cleanup sees it at once), the promise resolves with its port.
function startServer(extra, onSpawn) {
  return new Promise((resolve, reject) => {
    const name = ['duplex-server', ...extra].join(' ');
    const proc = spawn(SERVER, ['--host', '127.0.0.1', '--port', '0', '--web', WEB_DIR, ...extra],
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    onSpawn(proc);
    proc.stderr.on('data', d => process.stderr.write(`[${name}] ` + d));
    const rl = readline.createInterface({ input: proc.stdout });
    rl.on('line', line => {
      const m = /^listening on http:\/\/127\.0\.0\.1:(\d+)$/.exec(line);
      if (m) resolve(+m[1]); else say(`[${name}]`, line);
    });
    proc.on('error', reject);
    proc.on('exit', c => reject(new Error(`${name} exited (${c}) before listening`)));
    setTimeout(() => reject(new Error(`${name} printed no listening line in 15 s`)), 15000).unref();
  });
}

// Runs inside the page: a fresh WebSocket to /echo, three echoes, then 200
// small messages back to back, a clean close.
async function pageEchoTest(url) {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const out = { extensions: null, protocol: null, text: false, binary: false, big: false, small: false, close: null };
  await new Promise((res, rej) => {
    ws.onopen = res;
    ws.onerror = () => rej(new Error('WebSocket error before open'));
    setTimeout(() => rej(new Error('no open after 10 s')), 10000);
  });
  out.extensions = ws.extensions;
  out.protocol = ws.protocol;
  const queue = [];
  let waiter = null;
  ws.onmessage = (e) => { queue.push(e.data); if (waiter) { waiter(); waiter = null; } };
  const next = () => new Promise((res, rej) => {
    const take = () => res(queue.shift());
    if (queue.length) return take();
    const t = setTimeout(() => rej(new Error('no echo within 10 s')), 10000);
    waiter = () => { clearTimeout(t); take(); };
  });

  const text = 'hello from chromium \u03ba\u1f79\u03c3\u03bc\u03b5 \u{1f600}';
  ws.send(text);
  const gotText = await next();
  out.text = typeof gotText === 'string' && gotText === text;

  const bytes = new Uint8Array(256);
  for (let i = 0; i < 256; i++) bytes[i] = i;
  ws.send(bytes.buffer);
  const gotBin = await next();
  out.binary = gotBin instanceof ArrayBuffer && gotBin.byteLength === 256 &&
    new Uint8Array(gotBin).every((b, i) => b === i);

  let big = '';
  const abc = 'abcdefghijklmnopqrstuvwxyz';
  while (big.length < (1 << 20)) big += abc;
  big = big.slice(0, 1 << 20);
  ws.send(big);
  const gotBig = await next();
  out.big = typeof gotBig === 'string' && gotBig.length === big.length && gotBig === big;

  const smalls = Array.from({ length: 200 }, (_, i) => `small message ${i} of 200 from chromium: the quick brown fox`);
  for (const m of smalls) ws.send(m);
  out.small = true;
  for (const m of smalls) if ((await next()) !== m) out.small = false;

  out.close = await new Promise((res) => {
    ws.onclose = (e) => res({ code: e.code, reason: e.reason, wasClean: e.wasClean });
    ws.close(1000, 'done');
    setTimeout(() => res({ code: -1, reason: 'no close event within 10 s', wasClean: false }), 10000);
  });
  return out;
}

(async () => {
  if (!SERVER || !fs.existsSync(SERVER)) return finish(2, 'usage: node chromium_test.js PATH/duplex-server (or set DUPLEX_SERVER)');
  const { chromium, error } = loadChromium();
  if (error) return finish(1, `FAIL ${error}`);

  // Playwright's own temp files, the servers' and Chromium's land in home.dir too
  home = chromiumHome('duplex-chromium-', { processTmpdir: true });
  const port = await startServer([], p => { server = p; });
  const origin = `http://127.0.0.1:${port}`;
  say(`duplex-server on 127.0.0.1:${port}, --web ${WEB_DIR}`);

  const ctx = await home.launch(chromium);
  const page = ctx.pages()[0] || await ctx.newPage();
  const problems = [];
  page.on('pageerror', e => problems.push(`page error: ${e.message}`));
  // No exemption for the favicon: the page names one (web/favicon.svg), so nothing may 404.
  const responses = [];
  page.on('console', m => {
    if (m.type() !== 'error') return;
    problems.push(`console error: ${m.text()} (${m.location() && m.location().url})`);
  });
  page.on('response', r => { responses.push(new URL(r.url()).pathname); if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`); });
  page.on('requestfailed', r => problems.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
  const fails = [];
  const expect = (ok, what) => { say(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) fails.push(what); };

  // 1. The page, as a person uses it.
  const resp = await page.goto(`${origin}/echo.html`, { waitUntil: 'load', timeout: 15000 });
  expect(resp && resp.status() === 200, `GET /echo.html -> ${resp && resp.status()}`);
  expect(/duplex/.test(await page.title()), `page title '${await page.title()}'`);
  expect(await page.textContent('#url') === `ws://127.0.0.1:${port}/echo`, `#url shows ${await page.textContent('#url')}`);
  const opened = await page.waitForFunction(() => document.querySelector('#status').textContent === 'open',
    null, { timeout: 10000 }).then(() => true, () => false);
  expect(opened, `#status becomes 'open' (is '${await page.textContent('#status')}')`);
  expect(await page.evaluate(() => window.duplexSocket && window.duplexSocket.readyState === WebSocket.OPEN),
    'window.duplexSocket is OPEN');
  const typed = `typed by a person ${Date.now()} \u2713`;
  await page.fill('#message', typed, { timeout: 5000 });
  await page.click('#send', { timeout: 5000 });
  const echoed = await page.waitForFunction((t) => [...document.querySelectorAll('#log li.received')]
    .some(li => li.textContent === '\u2190 ' + t), typed, { timeout: 10000 }).then(() => true, () => false);
  expect(echoed, `#log shows the echo of the typed message (log: ${JSON.stringify(await page.$$eval('#log li', ls => ls.map(l => l.textContent)))})`);
  expect(await page.inputValue('#message') === '', '#message is cleared after send');
  // A long unbroken line wraps instead of widening the page; a binary message shows its size; the page
  // links back to the room; its icon was fetched (no 404).
  await page.fill('#message', 'x'.repeat(5000), { timeout: 5000 });
  await page.click('#send', { timeout: 5000 });
  await page.waitForFunction(() => [...document.querySelectorAll('#log li.received')].some(li => li.textContent.length > 5000),
    null, { timeout: 10000 }).catch(() => {});
  const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, view: window.innerWidth }));
  expect(widths.scroll <= widths.view, `a 5000-character line does not widen the page (scrollWidth ${widths.scroll}, viewport ${widths.view})`);
  await page.evaluate(() => window.duplexSocket.send(new Uint8Array(300)));
  const sized = await page.waitForFunction(() => [...document.querySelectorAll('#log li.received')]
    .some(li => li.textContent === '\u2190 [binary message, 300 bytes]'), null, { timeout: 10000 }).then(() => true, () => false);
  expect(sized, 'a binary echo shows its size');
  expect(await page.$eval('a[href="./"]', a => a.textContent).catch(() => '') !== '', 'the echo page links back to the room');
  expect(responses.includes('/favicon.svg'), `the page's icon was fetched (${JSON.stringify(responses)})`);

  // 2. A WebSocket of its own from the page: text, binary, 1 MiB, clean close.
  let r;
  try { r = await page.evaluate(pageEchoTest, `ws://127.0.0.1:${port}/echo`); } catch (e) { r = { error: String(e) }; }
  say('page WebSocket result:', JSON.stringify(r));
  expect(!r.error, `page WebSocket ran (${r.error || 'no error'})`);
  if (!r.error) {
    expect(r.text, 'text echo equal');
    expect(r.binary, 'binary echo (ArrayBuffer, 256 byte values) equal');
    expect(r.big, '1 MiB text echo equal');
    expect(r.small, '200 small messages back to back echoed equal, in order');
    expect(r.close && r.close.code === 1000 && r.close.wasClean === true,
      `close(1000): close event code ${r.close && r.close.code}, wasClean ${r.close && r.close.wasClean}`);
    // Chromium offers permessage-deflate; a server started without --deflate declines it.
    expect(r.extensions === '', `no extension agreed without --deflate (ws.extensions '${r.extensions}')`);
  }

  // 2b. The same against a second server started with --deflate: permessage-deflate is agreed, and every
  // message crosses compressed both ways (Chromium compresses all it sends once it is agreed; the server
  // everything of 64 bytes or more).
  const dport = await startServer(['--deflate'], p => { deflateServer = p; });
  say(`duplex-server --deflate on 127.0.0.1:${dport}`);
  let d;
  try { d = await page.evaluate(pageEchoTest, `ws://127.0.0.1:${dport}/echo`); } catch (e) { d = { error: String(e) }; }
  say('page WebSocket result with --deflate:', JSON.stringify(d));
  expect(!d.error, `page WebSocket to the --deflate server ran (${d.error || 'no error'})`);
  if (!d.error) {
    expect(/(^|,\s*)permessage-deflate\b/.test(d.extensions), `permessage-deflate agreed (ws.extensions '${d.extensions}')`);
    expect(d.text, 'deflate: text echo equal');
    expect(d.binary, 'deflate: binary echo (ArrayBuffer, 256 byte values) equal');
    expect(d.big, 'deflate: 1 MiB text echo equal');
    expect(d.small, 'deflate: 200 small messages back to back echoed equal, in order');
    expect(d.close && d.close.code === 1000 && d.close.wasClean === true,
      `deflate: close(1000): close event code ${d.close && d.close.code}, wasClean ${d.close && d.close.wasClean}`);
  }
  const dexited = new Promise(r => { deflateServer.on('exit', (c, sig) => r(sig ? sig : c)); setTimeout(() => r('still running after 5 s'), 5000); });
  deflateServer.kill('SIGTERM');
  const dcode = await dexited;
  expect(dcode === 0, `duplex-server --deflate exits 0 on SIGTERM (got ${dcode})`);

  // 3. The page's own socket is still fine afterwards; then leave the page.
  expect(await page.textContent('#status') === 'open', `#status still 'open' (is '${await page.textContent('#status')}')`);
  expect(problems.length === 0, `no page errors, console errors or failed requests ${JSON.stringify(problems)}`);

  // 4. Stopping the server (SIGTERM) closes the page's socket with 1001, and the server exits 0.
  const exited = new Promise(r => { server.on('exit', (c, sig) => r(sig ? sig : c)); setTimeout(() => r('still running after 5 s'), 5000); });
  server.kill('SIGTERM');
  const shut = await page.waitForFunction(() => /^closed \(1001\b/.test(document.querySelector('#status').textContent),
    null, { timeout: 10000 }).then(() => true, () => false);
  expect(shut, `after SIGTERM to the server #status shows a 1001 close (is '${await page.textContent('#status')}')`);
  const code = await exited;
  expect(code === 0, `duplex-server exits 0 on SIGTERM (got ${code})`);

  await finish(fails.length ? 1 : 0, `${fails.length ? fails.length + ' check(s) failed' : 'all checks passed'}`);
})().catch(e => finish(1, `FAIL ${e && e.stack || e}`));
