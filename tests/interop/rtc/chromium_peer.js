#!/usr/bin/env node
// A foreign WebRTC peer in headless Chromium (Debian's, driven by playwright-core) that speaks duplex's signaling
// protocol (docs/signaling.md) and file-transfer protocol (docs/file-transfer.md). The logic is in page_peer.html,
// which this script serves from its own HTTP server on 127.0.0.1 (with web/duplex-signal.js and web/sha256.js);
// the page then talks to the signaling server given by --signal.
//
//   node chromium_peer.js --signal ws://127.0.0.1:PORT/signal --room R [--id NAME] [--timeout S] [-v]
//                         --scenario SCENARIO [--file PATH] [--dir DIR] [--skip-empty]
//
// Scenarios and stand-in modes as in peer_node.js / peer_aiortc.py: echo (PASS echo), receive-file
// (PASS receive-file SIZE SHA256), send-file (PASS send-file); video-call [--duration S]: the fake camera (VP8) to
// the other side and its video (duplex-peer --video testsrc) played for S seconds (default 30) between two frame
// numbers read from the picture, then `PASS video-call {JSON}` with what Chromium's getStats counted meanwhile
// (page_peer.html); echo-server, file-sender --file F, file-receiver
// --dir D (prints `received NAME SIZE bytes sha256 HEX` once the file is written). echo-server and file-receiver
// end with exit 0 at --timeout or on SIGTERM; the others exit 1 with a FAIL line at --timeout (default 60 s).
//
// Chromium: CHROMIUM= (default /usr/bin/chromium), flags from /work/shared/peers/README.md including
// --allow-loopback-in-peer-connection and --use-fake-ui-for-media-stream (without them it gathers no 127.0.0.1
// candidate, or hides it behind mDNS). Refuses to run where any interface other than lo exists (use a loopback-only
// network namespace). Cleanup on every way out: the browser context is closed, then every process group whose
// command line has our --user-data-dir is killed (Playwright starts Chromium in a group of its own), and our
// TMPDIR (which holds the user-data-dir) is removed.
'use strict';
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const { WEBRTC_FLAGS, loadChromium, chromiumHome } = require('../lib/chromium');

const SCENARIOS = ['echo', 'receive-file', 'send-file', 'video-call', 'echo-server', 'file-sender', 'file-receiver'];
const WAITING = ['echo-server', 'file-receiver'];
const WEB_DIR = path.resolve(__dirname, '..', '..', '..', 'web');

function usage(msg) {
  process.stderr.write(`${msg ? msg + '\n' : ''}usage: chromium_peer.js --signal URL --room R [--id NAME] ` +
    `--scenario ${SCENARIOS.join("|")} [--file PATH] [--dir DIR] [--duration S] [--timeout S] [--skip-empty] [-v]\n`);
  process.exit(2);
}
const opt = { timeout: 60, verbose: false, skipEmpty: false, duration: 30 };
{
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const k = a[i];
    const val = () => { if (i + 1 >= a.length) usage(`${k} needs a value`); return a[++i]; };
    if (k === '--signal') opt.signal = val();
    else if (k === '--room') opt.room = val();
    else if (k === '--id') opt.id = val();
    else if (k === '--scenario') opt.scenario = val();
    else if (k === '--file') opt.file = path.resolve(val());
    else if (k === '--dir') opt.dir = path.resolve(val());
    else if (k === '--timeout') opt.timeout = +val();
    else if (k === '--skip-empty') opt.skipEmpty = true;
    else if (k === '--duration') opt.duration = +val();
    else if (k === '-v' || k === '--verbose') opt.verbose = true;
    else usage(`unknown argument ${k}`);
  }
  if (!opt.signal || !opt.room) usage('--signal and --room are required');
  if (!SCENARIOS.includes(opt.scenario)) usage(`--scenario must be one of ${SCENARIOS.join(', ')}`);
  if (['send-file', 'file-sender'].includes(opt.scenario) && !(opt.file && fs.statSync(opt.file, { throwIfNoEntry: false })?.isFile()))
    usage(`--scenario ${opt.scenario} needs --file PATH (a regular file)`);
  if (opt.scenario === 'file-receiver' && !opt.dir) usage('--scenario file-receiver needs --dir DIR');
  if (opt.dir && !fs.statSync(opt.dir, { throwIfNoEntry: false })?.isDirectory()) usage(`--dir ${opt.dir} is not a directory`);
  if (!(opt.timeout > 0)) usage('--timeout must be a positive number of seconds');
}
const log = (...a) => process.stderr.write(`[chromium_peer] ${a.join(' ')}\n`);
const out = (line) => process.stdout.write(line + '\n');

let home = null;   // lib/chromium.js: our TMPDIR, Chromium's user-data-dir in it, its context
let server = null;
let finishing = false;

async function finish(code, line) {
  if (finishing) return;
  finishing = true;
  if (line) out(line);
  if (home && home.context) {
    const c = home.context;
    // Let the page close its peer connections and the signaling socket first (stopPeer is a no-op once it finished).
    try {
      const page = c.pages()[0];
      if (page) await Promise.race([page.evaluate(() => window.stopPeer && window.stopPeer(0, '')).catch(() => {}), new Promise(r => setTimeout(r, 2000))]);
    } catch (e) { /* closing anyway */ }
    await new Promise(r => setTimeout(r, 200));
  }
  if (home) { await home.close(10000); home.remove(); }
  if (server) server.close();
  process.exit(code);
}
const fail = (why) => finish(1, `FAIL ${opt.scenario}: ${why}`);

setTimeout(() => {
  if (WAITING.includes(opt.scenario)) { log(`--timeout ${opt.timeout} s reached: stopping`); finish(0); }
  else fail(`timed out after ${opt.timeout} s`);
}, opt.timeout * 1000).unref();
// Hard stop should closing the browser itself hang.
setTimeout(() => { if (home) home.remove(); process.exit(WAITING.includes(opt.scenario) ? 0 : 1); }, (opt.timeout + 20) * 1000).unref();
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { log(`got ${sig}`); if (WAITING.includes(opt.scenario)) finish(0); else fail(`interrupted by ${sig}`); });
}
process.on('exit', () => { if (home) home.remove(); });

const FILES = {
  '/page_peer.html': [path.join(__dirname, 'page_peer.html'), 'text/html; charset=utf-8'],
  '/duplex-signal.js': [path.join(WEB_DIR, 'duplex-signal.js'), 'text/javascript; charset=utf-8'],
  '/sha256.js': [path.join(WEB_DIR, 'sha256.js'), 'text/javascript; charset=utf-8'],
};

(async () => {
  const ifs = Object.keys(os.networkInterfaces());
  if (ifs.some(n => n !== 'lo') && !process.env.RTC_ALLOW_ANY_NETNS) {
    out(`FAIL ${opt.scenario}: refusing to run outside a loopback-only network namespace (interfaces: ${ifs}); ` +
      'run inside `unshare --net` with lo up');
    process.exit(2);
  }
  const { chromium, error } = loadChromium();
  if (error) return fail(error);
  for (const [f] of Object.values(FILES)) if (!fs.existsSync(f)) return fail(`missing ${f}`);

  server = http.createServer((req, res) => {
    const f = FILES[new URL(req.url, 'http://x').pathname];
    if (!f) { res.writeHead(req.url === '/favicon.ico' ? 204 : 404); res.end(); return; }
    res.writeHead(200, { 'content-type': f[1], 'cache-control': 'no-store' });
    res.end(fs.readFileSync(f[0]));
  });
  await new Promise((r, j) => { server.once('error', j); server.listen(0, '127.0.0.1', r); });
  const port = server.address().port;

  home = chromiumHome('duplex-chromium-peer-');   // Chromium's TMPDIR only (not this process's)
  // video-call: Chromium's fake camera (a moving picture with a frame counter, 640x480 at 30 frames/s).
  const extra = opt.scenario === 'video-call' ? ['--use-fake-device-for-media-stream'] : [];
  const ctx = await home.launch(chromium, { extraArgs: [...WEBRTC_FLAGS, ...extra] });
  const page = ctx.pages()[0] || await ctx.newPage();
  page.on('console', (m) => log(`[page] ${m.text()}`));
  page.on('pageerror', (e) => fail(`page error: ${e.message}`));
  page.on('crash', () => fail('the page crashed'));
  await page.exposeFunction('hostOut', (line) => out(line));
  await page.exposeFunction('hostDone', (code, line) => { finish(code, line); });
  await page.exposeFunction('hostSaveFile', async (name) => {
    const safe = path.basename(String(name)) || 'file';
    const size = await page.evaluate((n) => window.fileSize(n), name);
    const tmpPath = path.join(opt.dir, `.${safe}.part`);
    const fd = fs.openSync(tmpPath, 'w');
    try {
      for (let off = 0; off < size; off += 1 << 20) {
        const b64 = await page.evaluate(([n, o, l]) => window.readFilePart(n, o, l), [name, off, 1 << 20]);
        fs.writeSync(fd, Buffer.from(b64, 'base64'));
      }
    } finally { fs.closeSync(fd); }
    fs.renameSync(tmpPath, path.join(opt.dir, safe));
    return true;
  });
  const resp = await page.goto(`http://127.0.0.1:${port}/page_peer.html`, { waitUntil: 'load', timeout: 15000 });
  if (!resp || resp.status() !== 200) return fail(`GET /page_peer.html -> ${resp && resp.status()}`);
  if (opt.file) await page.setInputFiles('#file', opt.file);
  log(`Chromium ${ctx.browser() ? ctx.browser().version() : ''} page on 127.0.0.1:${port}; scenario ${opt.scenario}`);
  await page.evaluate((o) => { window.runPeer(o); }, {
    signal: opt.signal, room: opt.room, id: opt.id, scenario: opt.scenario, dir: opt.dir, skipEmpty: opt.skipEmpty, verbose: opt.verbose,
    duration: opt.duration,
  });
})().catch((e) => fail(`${e && e.stack || e}`));
