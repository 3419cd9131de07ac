'use strict';
// tls_chromium_client.js: headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core, launched as in
// chromium_test.js plus --ignore-certificate-errors for the self-signed certificate) against a duplex-server that
// serves https:// and wss:// (started by tls_test.sh with --cert/--key and --web web/).
//
//   node tests/interop/tls_chromium_client.js https://127.0.0.1:PORT
//
// Loads / over https (status 200, the page's own socket goes to wss://127.0.0.1:PORT/echo and its #status
// reads 'open', a typed message comes back), then opens a WebSocket of its own from the page to
// wss://127.0.0.1:PORT/echo: a text, a binary (ArrayBuffer, 256 byte values) and a 1 MiB echo, 200 small
// messages back to back, and close(1000) ending with a clean close event of code 1000. No page errors, console
// errors or failed requests (bar the missing favicon). Prints "PASS ..." and exits 0, else "FAIL ..." and exits 1.
//
// Cleanup on every path, as in chromium_test.js: Chromium runs in a process group of its own (Playwright's doing),
// so an in-process watchdog (WATCHDOG_MS, default 40 s) and the signal handlers close it through the context and
// then SIGKILL its groups, found by the user-data-dir on their command lines; the temporary directory (TMPDIR for
// Chromium too) is removed. The server is the caller's.
const { loadChromium, chromiumHome, armWatchdog, onSignals } = require('./lib/chromium');

const WATCHDOG_MS = +(process.env.WATCHDOG_MS || 40000);
const ORIGIN = process.argv[2];
const EXTRA_FLAGS = ['--ignore-certificate-errors'];   // the certificate is self-signed

const say = (...a) => console.log('[tls_chromium]', ...a);
let home = null;   // lib/chromium.js: the fresh TMPDIR, Chromium's user-data-dir in it, its context
let finishing = false;

async function finish(code, why) {
  if (finishing) return;
  finishing = true;
  if (why) console.log(why);
  if (home) { await home.close(5000); home.remove(); }
  process.exit(code);
}
armWatchdog(WATCHDOG_MS, finish);
// A signal (the caller's timeout or cleanup): no time for a polite close, kill the browser's groups at once.
onSignals((sig, code) => { console.log(`FAIL got ${sig}`); if (home) home.remove(); process.exit(code); });
process.on('exit', () => { if (home) home.remove(); });

// Runs inside the page: a fresh WebSocket, three echoes, 200 small messages back to back, a clean close.
async function pageEchoTest(url) {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const out = { url: ws.url, text: false, binary: false, big: false, small: false, close: null };
  await new Promise((res, rej) => {
    ws.onopen = res;
    ws.onerror = () => rej(new Error('WebSocket error before open'));
    setTimeout(() => rej(new Error('no open after 10 s')), 10000);
  });
  const queue = [];
  let waiter = null;
  ws.onmessage = (e) => { queue.push(e.data); if (waiter) { waiter(); waiter = null; } };
  const next = () => new Promise((res, rej) => {
    const take = () => res(queue.shift());
    if (queue.length) return take();
    const t = setTimeout(() => rej(new Error('no echo within 10 s')), 10000);
    waiter = () => { clearTimeout(t); take(); };
  });
  const text = 'hello from chromium over wss \u03ba\u1f79\u03c3\u03bc\u03b5 \u{1f600}';
  ws.send(text);
  const gotText = await next();
  out.text = typeof gotText === 'string' && gotText === text;
  const bytes = new Uint8Array(256);
  for (let i = 0; i < 256; i++) bytes[i] = i;
  ws.send(bytes.buffer);
  const gotBin = await next();
  out.binary = gotBin instanceof ArrayBuffer && gotBin.byteLength === 256 && new Uint8Array(gotBin).every((b, i) => b === i);
  let big = '';
  while (big.length < (1 << 20)) big += 'abcdefghijklmnopqrstuvwxyz';
  big = big.slice(0, 1 << 20);
  ws.send(big);
  const gotBig = await next();
  out.big = typeof gotBig === 'string' && gotBig === big;
  const smalls = Array.from({ length: 200 }, (_, i) => `small message ${i} of 200 from chromium over wss`);
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
  const m = /^https:\/\/127\.0\.0\.1:(\d+)$/.exec(ORIGIN || '');
  if (!m) return finish(2, 'usage: node tls_chromium_client.js https://127.0.0.1:PORT');
  const wssUrl = `wss://127.0.0.1:${m[1]}/echo`;
  const { chromium, error } = loadChromium();
  if (error) return finish(1, `FAIL ${error}`);
  home = chromiumHome('duplex-tls-chromium-', { processTmpdir: true });
  const ctx = await home.launch(chromium, { extraArgs: EXTRA_FLAGS });
  const page = ctx.pages()[0] || await ctx.newPage();
  const problems = [];
  const isFavicon = (u) => { try { return new URL(u).pathname === '/favicon.ico'; } catch (e) { return false; } };
  page.on('pageerror', e => problems.push(`page error: ${e.message}`));
  page.on('console', msg => {
    if (msg.type() !== 'error') return;
    if (/status of 404/.test(msg.text()) && msg.location() && isFavicon(msg.location().url || '')) return;
    problems.push(`console error: ${msg.text()} (${msg.location() && msg.location().url})`);
  });
  page.on('response', r => { if (r.status() >= 400 && !isFavicon(r.url())) problems.push(`HTTP ${r.status()} for ${r.url()}`); });
  page.on('requestfailed', r => problems.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
  const fails = [];
  const expect = (ok, what) => { say(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) fails.push(what); };

  // 1. The page over https, and its own socket over wss.
  const resp = await page.goto(`${ORIGIN}/echo.html`, { waitUntil: 'load', timeout: 15000 });
  expect(resp && resp.status() === 200, `GET ${ORIGIN}/echo.html -> ${resp && resp.status()}`);
  const sec = resp && await resp.securityDetails();
  expect(sec && /^TLS/.test(sec.protocol || '') && sec.subjectName === 'localhost',
    `page came over TLS with our certificate (${JSON.stringify(sec)})`);
  expect(await page.evaluate(() => location.protocol) === 'https:', 'location.protocol is https:');
  const shown = await page.textContent('#url');
  expect(shown === wssUrl, `#url shows ${shown} (want ${wssUrl})`);
  const opened = await page.waitForFunction(() => document.querySelector('#status').textContent === 'open',
    null, { timeout: 10000 }).then(() => true, () => false);
  expect(opened, `the page's own socket: #status becomes 'open' (is '${await page.textContent('#status')}')`);
  const sockUrl = await page.evaluate(() => window.duplexSocket && window.duplexSocket.url);
  expect(sockUrl === wssUrl, `window.duplexSocket.url is ${sockUrl}`);
  const typed = `typed over wss ${Date.now()} \u2713`;
  await page.fill('#message', typed, { timeout: 5000 });
  await page.click('#send', { timeout: 5000 });
  const echoed = await page.waitForFunction((t) => [...document.querySelectorAll('#log li.received')]
    .some(li => li.textContent === '\u2190 ' + t), typed, { timeout: 10000 }).then(() => true, () => false);
  expect(echoed, 'the typed message comes back in #log');

  // 2. A WebSocket of its own from the page to wss://.../echo.
  let r;
  try { r = await page.evaluate(pageEchoTest, wssUrl); } catch (e) { r = { error: String(e) }; }
  say('page WebSocket result:', JSON.stringify(r));
  expect(!r.error, `page WebSocket to ${wssUrl} ran (${r.error || 'no error'})`);
  if (!r.error) {
    expect(r.text, 'text echo equal');
    expect(r.binary, 'binary echo (ArrayBuffer, 256 byte values) equal');
    expect(r.big, '1 MiB text echo equal');
    expect(r.small, '200 small messages back to back echoed equal, in order');
    expect(r.close && r.close.code === 1000 && r.close.wasClean === true,
      `close(1000): close event code ${r.close && r.close.code}, wasClean ${r.close && r.close.wasClean}`);
  }
  expect(await page.textContent('#status') === 'open', `#status still 'open' (is '${await page.textContent('#status')}')`);
  expect(problems.length === 0, `no page errors, console errors or failed requests ${JSON.stringify(problems)}`);
  await finish(fails.length ? 1 : 0, fails.length ? `FAIL ${fails.length} check(s): ${fails.join('; ')}`
    : `PASS chromium over https/wss ${ORIGIN}: page socket open, text, binary, 1 MiB, 200 small, close 1000 clean`);
})().catch(e => finish(1, `FAIL ${e && e.stack || e}`));
