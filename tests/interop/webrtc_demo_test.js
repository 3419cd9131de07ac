// The WebRTC demo (web/index.html, app.js, duplex-signal.js, sha256.js) in real Chromium pages, signaled by
// duplex-server's /signal. Run it through webrtc_demo_test.sh, which puts it (and so duplex-server and
// Chromium) in a loopback-only network namespace; this script refuses to run where any other interface exists.
//
//   tests/interop/webrtc_demo_test.sh PATH/duplex-server [PATH/duplex-peer] [pair] [mesh] [denied] [turn]
//                                     [toggles] [https] [glare] [native-chat] [native-files] [native-glare]
//   (all by default: the seven browser-only cases without duplex-peer's path, all ten with it; a case may be given
//   more than once; watchdog 60 s for the whole run plus 40 s per toggles, https, glare or native case,
//   WATCHDOG_MS= to change)
//
// pair: two pages join one room; the chat channel opens; chat both ways (one typed, one through the hook);
//       a 5 MiB random file from A arrives at B with Node's SHA-256 of the same bytes (the page's streaming
//       SHA-256, and WebCrypto's digest of the received Blob); the selected pair is host 127.0.0.1 and DTLS
//       is connected; both start the fake camera at once (renegotiation, perfect negotiation on glare) and
//       each side's inbound-rtp video framesDecoded and audio packetsReceived grow.
// mesh: three pages form a full mesh (each: 2 peers, ICE connected, chat open); one page closes; the other
//       two get peer-left and keep their connection (chat both ways); then duplex-server gets SIGTERM: both
//       pages show that signaling closed, and their peer connection still carries chat.
// denied: a browser started with --use-fake-ui-for-media-stream=deny: Start camera reports the denial.
// turn: coturn (TURNSERVER=, default turnserver; --use-auth-secret) on 127.0.0.1:3478 and duplex-server with
//       --turn turn:127.0.0.1:3478?transport=udp --turn-secret: both pages get joined.iceServers with coturn's
//       REST credentials (checked against Node's HMAC-SHA1) and open the demo with ?relay=1
//       (iceTransportPolicy 'relay'); they connect, chat goes both ways, the selected pair's local candidate
//       is of type relay, and coturn's log shows a successful ALLOCATE. coturn is killed after the case.
// toggles: two pages in a call, A's camera started first, then B's. A's Mute mic: A's audio track is disabled, the
//       button reads 'Unmute mic', and at B A's audio still arrives (packetsReceived grows) but is silence
//       (inbound-rtp totalAudioEnergy stops growing, audioLevel 0) while B's audio at A is untouched; Unmute mic:
//       the energy grows again. A's Camera off: A's video track is disabled, the button reads 'Camera on', and B
//       keeps decoding frames but they are black (B's remote <video> drawn into a canvas: every pixel dark; Chromium
//       sends black frames for a disabled track, framesDecoded keeps growing) while A's audio still has energy;
//       Camera on: the picture is back (bright pixels) and framesDecoded grows. B's own buttons and tracks unchanged.
// https: duplex-server with --cert/--key (a throwaway self-signed P-256 certificate for IP 127.0.0.1 made with
//       openssl in TMPDIR) and Chromium with --ignore-certificate-errors: two pages at https://127.0.0.1:PORT/ are
//       secure contexts, served with our certificate, and open exactly one WebSocket each, to
//       wss://127.0.0.1:PORT/signal (Playwright's websocket event and the page's own socket); chat both ways, both
//       start the camera, each decodes the other's video and audio (as in pair). Then a page at
//       https://duplex-demo.test:PORT/ (a name that is not loopback, mapped to 127.0.0.1 by --host-resolver-rules;
//       over http it would not be a secure context) is a secure context, signals over wss and starts its camera.
// glare: two pages connected with the chat channel only (no transceivers); both press Start camera at once
//       (Promise.all of the clicks), so both renegotiate. The collision is observed, not assumed: on each page's
//       signaling socket (Playwright's websocket frames) each page sent its offer before any answer went either
//       way, the impolite page (A, the first joiner) ignored B's offer (app.js's ignoreOffer was set; the first
//       description A applied is B's answer) and the polite page (B) took A's offer while its own was pending
//       (implicit rollback). An attempt without
//       a collision (one camera started much later) is retried with two fresh pages in a new room, up to 5
//       attempts. Then: both stable, each decodes the other's video and audio, chat both ways, no banner,
//       no signaling error and no console warning or error on either page.
// defaults: two pages opened at the bare address (no ?room=) join the room "demo", show its share link, meet and chat.
// token: duplex-server --signal-secret: a page without ?token= says how to get one; two pages with the token from
//       `duplex-server token` join and connect; the share link carries the token.
// native-chat: a page and `duplex-peer --echo --label chat --bind 127.0.0.1 -v` in one room, both join orders.
//       (page first) duplex-peer offers with its `chat` channel; the page shows the peer with ICE connected, DTLS
//       connected, chat open and a host/udp path (getStats: host 127.0.0.1 pair); chat typed in the page comes back
//       once each, from duplex-peer's id, in #chat-log; then Start camera: the page renegotiates with audio and video,
//       duplex-peer answers them rejected (port 0) and the echo still works. (duplex-peer first) the page's signaling
//       is held until its fake camera runs (Start camera), so its first offer carries audio, video and the `chat`
//       channel; duplex-peer answers audio/video rejected, BUNDLE on the application m-line; same checks as above.
//       Each time duplex-peer must exit 0 on SIGTERM and the page get peer-left.
// native-files: (duplex-peer first) `duplex-peer --receive-dir DIR`; 5 MiB of random bytes put into the page's file
//       input: duplex-peer prints `received random.bin 5242880 bytes sha256 HEX` with sha256sum's digest of the
//       source, DIR holds exactly that file, the page shows the transfer confirmed; SIGTERM -> exit 0.
//       (page first) `duplex-peer --send-file F --label chat` (5 MiB random): the page offers F's name for download
//       with sha256sum's size and digest (page's streaming SHA-256 and WebCrypto's of the Blob), and duplex-peer,
//       confirmed by file-ok, exits 0 by itself.
// native-send: `duplex-peer --send TEXT --label chat` to a page: the page shows the plain text in its chat, and
//       duplex-peer finishes by itself (exit 0, "no reply ... within 2 s").
// native-glare: an offer collision between the page and duplex-peer, made deterministic. The page joins first (impolite),
//       then `duplex-peer --echo --label chat --bind 127.0.0.1 -v --id duplex` (polite), which offers at once. The page's
//       signaling goes through Playwright's routeWebSocket, which holds duplex-peer's offer (and all that follows it)
//       on its way to the page. Start camera then runs the fake devices but sends duplex-peer nothing (checked: app.js
//       adds tracks towards a peer that offers to it only after answering that peer's first offer), so the test hook
//       starts the page's own negotiation as app.js does towards a peer it offers to (mayAddTracks, addLocalTracks(),
//       setupChat(createDataChannel('chat'))): the page's negotiationneeded handler sends an offer with audio, video
//       and 'chat' while duplex-peer's is held. duplex-peer logs `peer <page id>: offer collision, rolling back ours (we
//       are polite)` and answers (held too); the route saw duplex-peer's offer before the page sent its own and the
//       page had applied nothing. Released: the page ignores duplex-peer's offer (app.js's ignoreOffer set) and the
//       only description it applies is the answer, in have-local-offer; one offer each way. Then: audio/video rejected
//       (port 0), BUNDLE on the application m-line, connected over host 127.0.0.1, chat echoed once, no banner,
//       signaling error or console warning, duplex-peer never ignored an offer, logged no failure, exits 0 on SIGTERM.
//       duplex-peer always runs in a process group of its own with --timeout 45; its output and the page's console
//       are printed when a check of the case fails.
//
// Cleanup on every path (pass, fail, watchdog, signal): duplex-server (and coturn, duplex-peer) run in a process group of
// their own, which is killed; Chromium (its own process group, started by Playwright) is closed through its context
// and then its groups are killed, found by our user-data-dir; TMPDIR is a fresh directory, removed.
const { spawn, execFileSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const { FLAGS: COMMON_FLAGS, WEBRTC_FLAGS, loadChromium, chromiumHome, armWatchdog, onSignals } = require('./lib/chromium');

const SERVER = process.argv[2] || process.env.DUPLEX_SERVER;
const BROWSER_CASES = ['pair', 'mesh', 'denied', 'turn', 'toggles', 'https', 'glare', 'defaults', 'token', 'two-nodes'];
const SLOW_CASES = ['toggles', 'https', 'glare'];   // 40 s more on the watchdog each
const NATIVE_CASES = ['native-chat', 'native-files', 'native-glare', 'native-send', 'native-media', 'native-renegotiate', 'native-testsrc',
  'native-testsrc-h264-mode0',
  'native-testsrc-h264', 'native-record', 'native-record-h264'];
const ALL_CASES = [...BROWSER_CASES, ...NATIVE_CASES];
// The second argument is duplex-peer's path unless it is a case name (DUPLEX_PEER= also works).
const REST = process.argv.slice(3);
const PEER = REST.length && !ALL_CASES.includes(REST[0]) ? REST.shift() : (process.env.DUPLEX_PEER || null);
const CASES = REST.length ? REST : (PEER ? ALL_CASES : BROWSER_CASES);
const NATIVE_RUNS = CASES.filter(c => NATIVE_CASES.includes(c)).length;
const SLOW_RUNS = CASES.filter(c => SLOW_CASES.includes(c)).length;
const WATCHDOG_MS = +(process.env.WATCHDOG_MS || 60000 + 40000 * (NATIVE_RUNS + SLOW_RUNS));
const USAGE = 'usage: webrtc_demo_test.sh PATH/duplex-server [PATH/duplex-peer] [pair] [mesh] [denied] [turn] [toggles] [https] [glare] [defaults] [token] [two-nodes] [native-chat] [native-files] [native-glare] [native-send] [native-media] [native-renegotiate] [native-testsrc] [native-testsrc-h264] [native-testsrc-h264-mode0] [native-record] [native-record-h264]';
const WEB_DIR = path.resolve(__dirname, '..', '..', 'web');
const TURNSERVER = process.env.TURNSERVER || 'turnserver';
const TURN_SECRET = crypto.randomBytes(12).toString('hex');
const TOKEN_SECRET = crypto.randomBytes(12).toString('hex');
// The https case also loads the page under this name, mapped to 127.0.0.1 by Chromium's resolver (nothing is looked up):
// an origin that is not loopback, so only https makes it a secure context.
const HTTPS_NAME = 'duplex-demo.test';
// One --disable-features at most: Chromium keeps only the last one, and Playwright adds its own.
const FLAGS = [...COMMON_FLAGS, ...WEBRTC_FLAGS, '--use-fake-device-for-media-stream',
  '--autoplay-policy=no-user-gesture-required'];

const say = (...a) => console.log('[webrtc_demo_test]', ...a);
let server = null;
let serverB = null;   // two-nodes: the second duplex-server
let redis = null;     // two-nodes: redis-server on a Unix socket in home.dir
let turn = null;
let turnLog = '';
let home = null;   // lib/chromium.js: the fresh TMPDIR (certificates, coturn's files too), the user-data-dirs in it
let ctx = null;   // the case's browser (home.context)
let finishing = false;
const fails = [];
const expect = (ok, what) => { say(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) fails.push(what); return ok; };

function killGroup(p) {
  if (p && p.exitCode === null && p.signalCode === null) {
    try { process.kill(-p.pid, 'SIGKILL'); } catch (e) { /* already gone */ }
  }
}
function killServer() {
  killGroup(server);
  killGroup(serverB);
  killGroup(redis);
}
const natives = new Set();   // duplex-peer processes, each the leader of its own process group
function killNatives() {
  for (const p of natives) {
    if (p.exitCode === null && p.signalCode === null) { try { process.kill(-p.pid, 'SIGKILL'); } catch (e) { /* gone */ } }
  }
  natives.clear();
}
function killTurn() {
  if (turn && turn.exitCode === null && turn.signalCode === null) {
    try { process.kill(-turn.pid, 'SIGKILL'); } catch (e) { /* already gone */ }
  }
}
async function closeBrowser() {
  ctx = null;
  if (home) await home.close();
}
async function finish(code, why) {
  if (finishing) return;
  finishing = true;
  if (why) say(why);
  await closeBrowser();
  killNatives();
  killServer();
  killTurn();
  if (home) home.remove();
  say(code === 0 ? 'PASS' : 'FAIL');
  process.exit(code);
}
armWatchdog(WATCHDOG_MS, finish);
onSignals((sig, code) => finish(code, `FAIL got ${sig}`));
process.on('exit', () => { if (home) home.kill(); killNatives(); killServer(); killTurn(); if (home) home.remove(); });

function startServer(extra = [], second = false) {
  return new Promise((resolve, reject) => {
    const proc = spawn(SERVER, ['--host', '127.0.0.1', '--port', '0', '--web', WEB_DIR, ...extra],
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    if (second) serverB = proc; else server = proc;
    proc.stderr.on('data', d => process.stderr.write('[duplex-server] ' + d));
    readline.createInterface({ input: proc.stdout }).on('line', line => {
      const m = /^listening on (https?):\/\/127\.0\.0\.1:(\d+)$/.exec(line);
      if (m) { proc.scheme = m[1]; resolve(+m[2]); } else say('[duplex-server]', line);
    });
    proc.on('error', reject);
    proc.on('exit', c => reject(new Error(`duplex-server exited (${c}) before listening`)));
    setTimeout(() => reject(new Error('duplex-server printed no listening line in 15 s')), 15000).unref();
  });
}

// redis-server on a Unix socket in home.dir (no port to pick, nothing on the network); resolves with its URL for --redis.
function startRedis() {
  return new Promise((resolve, reject) => {
    const sock = path.join(home.dir, 'redis.sock');
    let out = '';
    const proc = spawn('redis-server', ['--port', '0', '--unixsocket', sock, '--save', '', '--appendonly', 'no', '--dir', home.dir],
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    redis = proc;
    proc.stdout.on('data', (d) => { out += d; if (/ready to accept connections/i.test(out)) resolve(`unix://${sock}`); });
    proc.on('error', (e) => reject(new Error(`cannot start redis-server: ${e.message} (apt-get install redis-server)`)));
    proc.on('exit', c => reject(new Error(`redis-server exited (${c}) before it was ready:\n${out}`)));
    setTimeout(() => reject(new Error(`redis-server not ready after 10 s:\n${out}`)), 10000).unref();
  });
}

// coturn with coturn's REST credentials (use-auth-secret), loopback only; resolves once its UDP listener is open.
function startTurn() {
  return new Promise((resolve, reject) => {
    turnLog = '';
    const proc = spawn(TURNSERVER, ['-n', '-v', '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', '--listening-port=3478',
      '--min-port=49152', '--max-port=49252', '--use-auth-secret', `--static-auth-secret=${TURN_SECRET}`, '--realm=duplex',
      '--allow-loopback-peers', '--no-tls', '--no-dtls', '--no-cli', '--no-multicast-peers', '--fingerprint',
      '--log-file=stdout', '--simple-log', `--pidfile=${home.dir}/turnserver.pid`, `--userdb=${home.dir}/turndb`],
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    turn = proc;
    const onData = (d) => {
      turnLog += d;
      if (/UDP listener opened on\s*:?\s*127\.0\.0\.1:3478/i.test(turnLog) || /Total \w+ servers/i.test(turnLog)) resolve();
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('error', (e) => reject(new Error(`cannot start ${TURNSERVER}: ${e.message} (apt-get install coturn)`)));
    proc.on('exit', c => reject(new Error(`turnserver exited (${c}) before listening:\n${turnLog}`)));
    setTimeout(() => reject(new Error(`turnserver not listening after 10 s:\n${turnLog}`)), 10000).unref();
  });
}

// Polls fn (run in the page with arg) until it returns truthy; returns that value, or null after ms.
async function waitFor(page, fn, arg, ms) {
  try {
    const h = await page.waitForFunction(fn, arg, { timeout: ms, polling: 100 });
    return await h.jsonValue();
  } catch (e) { return null; }
}
const sleep = (ms) => new Promise(r => setTimeout(r, ms));

let pageNo = 0;
// hooks.beforeGoto(page) runs before the page loads, hooks.beforeJoin(page) after it loaded, before waiting for joined.
async function openPage(origin, room, problems, query = '', hooks = {}) {
  const page = await ctx.newPage();
  const name = `page${++pageNo}`;
  page.consoleLog = [];   // everything the page logged, shown when a native case fails
  page.on('pageerror', e => problems.push(`${name}: page error: ${e.message}`));
  // No exemption for the favicon: the page names one (web/favicon.svg), so nothing may 404.
  page.on('console', m => {
    page.consoleLog.push(`${m.type()}: ${m.text()}`);
    if (m.type() !== 'error') return;
    problems.push(`${name}: console error: ${m.text()}`);
  });
  page.on('response', r => { if (r.status() >= 400) problems.push(`${name}: HTTP ${r.status()} ${r.url()}`); });
  page.on('requestfailed', r => problems.push(`${name}: request failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
  page.on('request', r => { if (!r.url().startsWith(origin) && !/^(data|blob):/.test(r.url())) problems.push(`${name}: request outside the server: ${r.url()}`); });
  if (hooks.beforeGoto) await hooks.beforeGoto(page);
  const target = room === null ? `${origin}/${query}` : `${origin}/?room=${room}${query}`;
  const resp = await page.goto(target, { waitUntil: 'load', timeout: 15000 });
  expect(resp && resp.status() === 200, `${name}: GET ${target} -> ${resp && resp.status()}`);
  page.label = name;
  if (hooks.beforeJoin) await hooks.beforeJoin(page);
  if (hooks.noJoin) return page;
  const id = await waitFor(page, () => window.duplexDemo && window.duplexDemo.state.id, null, 10000);
  expect(!!id, `${name}: joined room ${room} as ${id} (signal: ${await page.evaluate(() => window.duplexDemo && window.duplexDemo.state.signal)})`);
  page.peerId = id;
  page.label = name;
  return page;
}

// Waits until the page has exactly `n` peers, each ICE-connected with its chat channel open.
const meshReady = (page, n, ms) => waitFor(page, (n) => {
  const ps = window.duplexDemo.peers();
  return ps.length === n && ps.every(p => (p.ice === 'connected' || p.ice === 'completed') && p.chat === 'open') && ps;
}, n, ms);

async function chatArrives(from, to, text, viaUi) {
  if (viaUi) {
    await from.fill('#chat-input', text, { timeout: 5000 });
    await from.click('#chat-send', { timeout: 5000 });
  } else {
    await from.evaluate((t) => window.duplexDemo.sendChat(t), text);
  }
  const got = await waitFor(to, ([t, f]) => window.duplexDemo.chat.some(c => c.text === t && c.from === f && !c.mine),
    [text, from.peerId], 10000);
  const shown = got && await to.$$eval('#chat-log li', (ls, t) => ls.some(l => l.textContent.includes(t)), text);
  return expect(!!got && shown, `chat ${from.label} -> ${to.label}${viaUi ? ' (typed)' : ''}: '${text}' arrives with sender ${from.peerId}, shown in #chat-log`);
}

async function casePair(origin) {
  const problems = [];
  const room = `pair-${crypto.randomBytes(4).toString('hex')}`;
  const a = await openPage(origin, room, problems);
  const b = await openPage(origin, room, problems);
  const ra = await meshReady(a, 1, 15000), rb = await meshReady(b, 1, 15000);
  expect(ra && ra[0].id === b.peerId && !ra[0].polite, `A sees B connected, chat open (${JSON.stringify(ra)})`);
  expect(rb && rb[0].id === a.peerId && rb[0].polite, `B sees A connected, chat open, B is polite (${JSON.stringify(rb)})`);
  if (!ra || !rb) return problems;
  expect(await a.textContent('#peer-count') === '1', '#peer-count shows 1');

  // Connection details from getStats.
  // Polled: the page's DTLS state can lag the chat channel's open by a stats round.
  const sa = await waitFor(a, async (id) => {
    const s = await window.duplexDemo.stats(id);
    return s && s.dtls === 'connected' ? s : null;
  }, b.peerId, 5000) || await a.evaluate((id) => window.duplexDemo.stats(id), b.peerId);
  expect(sa && sa.dtls === 'connected' && sa.local && sa.local.type === 'host' && sa.local.address === '127.0.0.1' &&
    sa.remote && sa.remote.type === 'host', `A's stats: DTLS connected, host 127.0.0.1 pair (${JSON.stringify(sa)})`);
  const peerText = await a.textContent('#peers li');
  expect(/DTLS connected/.test(peerText) && /host\/udp/.test(peerText), `A's peer list shows the state: '${peerText}'`);

  await chatArrives(a, b, `hello from A \u2713 ${Date.now()}`, true);
  await chatArrives(b, a, `hello from B \u{1f600} ${Date.now()}`, false);

  // 5 MiB of random bytes A -> B through the file input.
  const bytes = crypto.randomBytes(5 * 1024 * 1024);
  const ref = crypto.createHash('sha256').update(bytes).digest('hex');
  const t0 = Date.now();
  await a.setInputFiles('#file-input', { name: 'random.bin', mimeType: 'application/octet-stream', buffer: bytes });
  const rec = await waitFor(b, () => window.duplexDemo.files.length > 0 && window.duplexDemo.files[0], null, 30000);
  expect(rec && rec.ok && rec.size === bytes.length && rec.from === a.peerId && rec.name === 'random.bin',
    `B received random.bin (${bytes.length} bytes) from A in ${Date.now() - t0} ms (${JSON.stringify(rec && { ...rec, url: undefined })})`);
  expect(rec && rec.sha256 === ref, `B's streaming SHA-256 ${rec && rec.sha256} = Node's ${ref}`);
  if (rec && rec.url) {
    const wc = await b.evaluate(async (url) => {
      const buf = await (await fetch(url)).arrayBuffer();
      const d = new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
      return { size: buf.byteLength, hex: Array.from(d, x => x.toString(16).padStart(2, '0')).join('') };
    }, rec.url);
    expect(wc.size === bytes.length && wc.hex === ref, `the Blob offered for download: ${wc.size} bytes, WebCrypto SHA-256 = Node's`);
    const link = await b.$eval('#transfers a[download]', l => ({ name: l.download, href: l.href })).catch(() => null);
    expect(link && link.name === 'random.bin' && link.href === rec.url, `a download link for random.bin (${JSON.stringify(link)})`);
  }
  const tr = await waitFor(a, () => window.duplexDemo.transfers.length > 0 && window.duplexDemo.transfers[0].status !== 'sending' && window.duplexDemo.transfers[0], null, 10000);
  expect(tr && tr.status === 'ok' && tr.sha256 === ref && tr.sent === bytes.length, `A's transfer confirmed by file-ok (${JSON.stringify(tr)})`);

  // Both start the fake camera at the same moment: each adds tracks, both may offer at once (glare).
  await startBothCameras(a, b);
  await mediaFlows(a, b);
  // Chat still fine after renegotiation.
  await chatArrives(a, b, 'after the camera', false);
  await a.close(); await b.close();
  return problems;
}

// Two duplex-servers sharing rooms through Redis (docs/scaling.md): a page on each joins the same room; they
// connect (signaled across the nodes) and chat both ways. Then node A is killed (SIGKILL): the page on node B
// hears that A's page left within 15 s (the node's liveness lapsed in Redis).
async function caseTwoNodes(originA, redisUrl) {
  const problems = [];
  const portB = await startServer(['--redis', redisUrl], true);
  const originB = `http://127.0.0.1:${portB}`;
  say(`second duplex-server on ${originB}`);
  const room = `two-${crypto.randomBytes(4).toString('hex')}`;
  const a = await openPage(originA, room, problems);
  const b = await openPage(originB, room, problems);
  const ra = await meshReady(a, 1, 15000), rb = await meshReady(b, 1, 15000);
  expect(ra && ra[0].id === b.peerId, `page on node A sees the page on node B connected, chat open (${JSON.stringify(ra)})`);
  expect(rb && rb[0].id === a.peerId, `page on node B sees the page on node A connected, chat open (${JSON.stringify(rb)})`);
  if (!ra || !rb) return problems;
  await chatArrives(a, b, `across nodes from A ${Date.now()}`, true);
  await chatArrives(b, a, `across nodes from B ${Date.now()}`, false);
  const t0 = Date.now();
  killGroup(server);
  const gone = await waitFor(b, () => window.duplexDemo.peers().length === 0, null, 15000);
  expect(gone, `node A killed: the page on node B sees A's page leave in ${Date.now() - t0} ms (within 15 s)`);
  // The page on the dead node lost its signaling: that is its own error, not the test's.
  const i = problems.findIndex(p => /^page1: /.test(p) && /WebSocket|signal/i.test(p));
  if (i >= 0) problems.splice(i, problems.length - i, ...problems.slice(i).filter(p => !/^page1: /.test(p)));
  await a.close(); await b.close();
  return problems;
}

// Both pages press Start camera at once (each then has a local stream with 2 tracks).
async function startBothCameras(a, b) {
  const cams = await Promise.all([a, b].map(p => p.click('#start-camera', { timeout: 5000 })
    .then(() => waitFor(p, () => window.duplexDemo.localStream() && window.duplexDemo.localStream().getTracks().length, null, 10000))));
  expect(cams.every(n => n === 2), `both pages have a local stream with 2 tracks (${cams})`);
}

// Each page decodes the other's camera: inbound-rtp video framesDecoded and audio packetsReceived grow over 2 s
// (after the first frame, waited for up to 20 s), and the remote <video> has a width.
async function mediaFlows(a, b) {
  const media = async (page, other) => page.evaluate(async (id) => {
    const s = await window.duplexDemo.stats(id);
    return { video: s.inbound.video || null, audio: s.inbound.audio || null, sig: s.signaling };
  }, other.peerId);
  const firstMedia = async (page, other) => {
    for (let i = 0; i < 100; i++) {
      const m = await media(page, other);
      if (m.video && m.video.framesDecoded > 0 && m.audio && m.audio.packetsReceived > 0) return m;
      await sleep(200);
    }
    return media(page, other);
  };
  const m1 = await Promise.all([firstMedia(a, b), firstMedia(b, a)]);
  await sleep(2000);
  const m2 = await Promise.all([media(a, b), media(b, a)]);
  let ok = true;
  for (const [i, p] of [a, b].entries()) {
    const x = m1[i], y = m2[i];
    ok = expect(x.video && y.video && y.video.framesDecoded > x.video.framesDecoded && x.video.framesDecoded > 0,
      `${p.label}: inbound video framesDecoded grows ${x.video && x.video.framesDecoded} -> ${y.video && y.video.framesDecoded} (${y.video && y.video.frameWidth}x${y.video && y.video.frameHeight})`) && ok;
    ok = expect(x.audio && y.audio && y.audio.packetsReceived > x.audio.packetsReceived,
      `${p.label}: inbound audio packetsReceived grows ${x.audio && x.audio.packetsReceived} -> ${y.audio && y.audio.packetsReceived}`) && ok;
    const vw = await p.$eval(`#videos figure[data-peer] video`, v => v.videoWidth).catch(() => 0);
    ok = expect(vw > 0, `${p.label}: the remote <video> plays (videoWidth ${vw})`) && ok;
  }
  return ok;
}

// A browser that denies the camera (--use-fake-ui-for-media-stream=deny): Start camera must say so.
async function caseDenied(origin) {
  const problems = [];
  const page = await openPage(origin, `denied-${crypto.randomBytes(4).toString('hex')}`, problems);
  await page.click('#start-camera', { timeout: 5000 });
  const msg = await waitFor(page, () => window.duplexDemo.state.mediaError && document.querySelector('#media-status').textContent, null, 10000);
  expect(!!msg && /denied/.test(msg), `a denied camera is reported: '${msg}' (${await page.evaluate(() => window.duplexDemo.state.mediaError)})`);
  expect(await page.evaluate(() => !document.querySelector('#banner').hidden && !document.querySelector('#start-camera').disabled),
    'the banner shows it and Start camera can be pressed again');
  return problems;
}

// Two relay-only pages (?relay=1) with the TURN credentials duplex-server hands out (coturn started by main).
async function caseTurn(origin) {
  const problems = [];
  const room = `turn-${crypto.randomBytes(4).toString('hex')}`;
  const a = await openPage(origin, room, problems, '&relay=1');
  const b = await openPage(origin, room, problems, '&relay=1');
  for (const p of [a, b]) {
    const ice = await p.evaluate(() => window.duplexDemo.state.iceServers);
    const s = ice && ice[0];
    const urls = s && [].concat(s.urls);
    const m = s && /^(\d+):(.+)$/.exec(s.username || '');
    const mac = s && crypto.createHmac('sha1', TURN_SECRET).update(s.username || '').digest('base64');
    expect(ice && ice.length === 1 && urls.length === 1 && urls[0] === 'turn:127.0.0.1:3478?transport=udp' && m &&
      m[2] === p.peerId && +m[1] > Date.now() / 1000 + 60 && s.credential === mac,
      `${p.label}: joined.iceServers has the TURN URL and username <expiry>:${p.peerId}, credential = Node's base64 HMAC-SHA1 (${JSON.stringify(ice)})`);
  }
  const ra = await meshReady(a, 1, 20000), rb = await meshReady(b, 1, 20000);
  expect(ra && ra[0].id === b.peerId, `A sees B connected over relay-only ICE, chat open (${JSON.stringify(ra)})`);
  expect(rb && rb[0].id === a.peerId, `B sees A connected over relay-only ICE, chat open (${JSON.stringify(rb)})`);
  if (!ra || !rb) { say('[turnserver log]\n' + turnLog); return problems; }
  await chatArrives(a, b, `relayed hello from A ${Date.now()}`, true);
  await chatArrives(b, a, `relayed hello from B ${Date.now()}`, false);
  let relaySides = 0;
  for (const [p, q] of [[a, b], [b, a]]) {
    const st = await p.evaluate((id) => window.duplexDemo.stats(id), q.peerId);
    const relay = !!(st && st.local && st.local.type === 'relay');
    if (relay) relaySides++;
    say(`${p.label}: selected pair local ${JSON.stringify(st && st.local)} remote ${JSON.stringify(st && st.remote)}, DTLS ${st && st.dtls}`);
    expect(st && st.dtls === 'connected', `${p.label}: DTLS connected (${st && st.dtls})`);
  }
  expect(relaySides >= 1, `the selected pair uses a local relay candidate on ${relaySides} of 2 sides (at least 1 needed)`);
  const allocs = (turnLog.match(/ALLOCATE processed, success/g) || []).length;
  expect(allocs >= 1, `coturn's log shows ${allocs} successful ALLOCATE(s)`);
  if (!allocs) say('[turnserver log]\n' + turnLog);
  await a.close(); await b.close();
  return problems;
}

async function caseMesh(origin) {
  const problems = [];
  const room = `mesh-${crypto.randomBytes(4).toString('hex')}`;
  const pages = [];
  for (let i = 0; i < 3; i++) pages.push(await openPage(origin, room, problems));
  const [a, b, c] = pages;
  const ready = await Promise.all(pages.map(p => meshReady(p, 2, 20000)));
  for (const [i, p] of pages.entries()) {
    const others = pages.filter(q => q !== p).map(q => q.peerId).sort();
    const got = ready[i] ? ready[i].map(x => x.id).sort() : null;
    expect(JSON.stringify(got) === JSON.stringify(others), `${p.label} sees 2 connected peers ${JSON.stringify(got)} = ${JSON.stringify(others)}`);
  }
  if (ready.some(r => !r)) {
    for (const p of pages) say(p.label, JSON.stringify(await p.evaluate(() => window.duplexDemo.peers())));
    return problems;
  }
  await chatArrives(c, a, 'C to A', false);
  await chatArrives(b, c, 'B to C', false);

  const gone = c.peerId;
  await c.close();
  for (const p of [a, b]) {
    const left = await waitFor(p, (id) => window.duplexDemo.chat.some(x => x.system && x.text === `${id} left`) &&
      window.duplexDemo.peers().length === 1 && window.duplexDemo.peers(), gone, 10000);
    expect(left && left[0].id === (p === a ? b : a).peerId, `${p.label} got peer-left for ${gone} and has 1 peer left (${JSON.stringify(left)})`);
  }
  await sleep(1000);
  for (const p of [a, b]) {
    const ps = await p.evaluate(() => window.duplexDemo.peers());
    expect(ps.length === 1 && ps[0].connection === 'connected' && ps[0].chat === 'open', `${p.label} still connected to the other (${JSON.stringify(ps)})`);
  }
  await chatArrives(a, b, 'A to B after C left', false);
  await chatArrives(b, a, 'B to A after C left', true);

  // The signaling server goes away: both pages say so, the peer connection lives on.
  const exited = new Promise(r => { server.on('exit', (code, sig) => r(sig || code)); setTimeout(() => r('still running after 8 s'), 8000); });
  server.kill('SIGTERM');
  for (const p of [a, b]) {
    const closed = await waitFor(p, () => /^closed \(/.test(window.duplexDemo.state.signal) && !document.querySelector('#banner').hidden &&
      document.querySelector('#banner').textContent, null, 10000);
    expect(!!closed && /signaling connection closed/.test(closed), `${p.label} shows that signaling closed: '${closed}'`);
  }
  expect(await exited === 0, `duplex-server exits 0 on SIGTERM`);
  await chatArrives(a, b, 'A to B without the server', false);
  return problems;
}

// ---- toggles, https, glare ------------------------------------------------------------------------------------------

// What `page` gets from peer `from`, straight from getStats (the hook's stats() has no audio energy), and the picture
// in its <video> of that peer (drawn into an 80x60 canvas: the brightest and the mean of max(R,G,B) per pixel; null
// while the video has no frame).
const received = (page, from) => page.evaluate(async (id) => {
  const p = window.duplexDemo.peer(id);
  const out = { audio: null, video: null, pixels: null, track: null };
  if (!p) return out;
  (await p.pc.getStats()).forEach((s) => {
    if (s.type !== 'inbound-rtp') return;
    if (s.kind === 'audio') out.audio = { packets: s.packetsReceived || 0, energy: s.totalAudioEnergy || 0, level: s.audioLevel || 0 };
    if (s.kind === 'video') out.video = { packets: s.packetsReceived || 0, frames: s.framesDecoded || 0, width: s.frameWidth || 0 };
  });
  out.track = p.remoteStream.getTracks().map((t) => `${t.kind} ${t.readyState}`).sort().join(', ');
  const v = document.querySelector(`#videos figure[data-peer="${id}"] video`);
  if (v && v.videoWidth > 0) {
    const c = document.createElement('canvas');
    c.width = 80; c.height = 60;
    const g = c.getContext('2d', { willReadFrequently: true });
    g.drawImage(v, 0, 0, 80, 60);
    const d = g.getImageData(0, 0, 80, 60).data;
    let max = 0, sum = 0;
    for (let i = 0; i < d.length; i += 4) { const y = Math.max(d[i], d[i + 1], d[i + 2]); sum += y; if (y > max) max = y; }
    out.pixels = { max, mean: Math.round(sum / (d.length / 4)) };
  }
  return out;
}, from.peerId);
// Two samples `ms` apart and what changed in between.
const delta = (s0, s1, ms) => ({ s0, s1, ms,
  dEnergy: s0.audio && s1.audio ? s1.audio.energy - s0.audio.energy : null,
  dPackets: s0.audio && s1.audio ? s1.audio.packets - s0.audio.packets : null,
  dFrames: s0.video && s1.video ? s1.video.frames - s0.video.frames : null });
async function span(page, from, ms) {
  const s0 = await received(page, from);
  await sleep(ms);
  return delta(s0, await received(page, from), ms);
}
// Windows of `step` ms, one after the other, until pred(window) holds (returns it, with .ok and .after, the ms since
// the call) or `ms` have passed (returns the last window, .ok false).
async function settle(page, from, pred, ms, step = 1000) {
  const t0 = Date.now();
  let s0 = await received(page, from);
  for (;;) {
    await sleep(step);
    const s1 = await received(page, from);
    const w = delta(s0, s1, step);
    if (pred(w)) return { ...w, ok: true, after: Date.now() - t0 };
    if (Date.now() - t0 > ms) return { ...w, ok: false, after: Date.now() - t0 };
    s0 = s1;
  }
}
const fmtWin = (w) => `energy +${w.dEnergy === null ? '?' : w.dEnergy.toFixed(4)}, level ${w.s1.audio && w.s1.audio.level.toFixed(3)}, ` +
  `audio packets +${w.dPackets}, frames +${w.dFrames} (${w.s1.video && w.s1.video.width} wide), pixels ${JSON.stringify(w.s0.pixels)} -> ${JSON.stringify(w.s1.pixels)}`;
const DARK = 24;     // a black frame, VP8-coded: every pixel's max(R,G,B) at most this (measured: 0)
const BRIGHT = 60;   // Chromium's fake camera: the brightest pixel at least this (measured: 117)

// The local media controls and tracks of a page.
const mediaUi = (page) => page.evaluate(() => {
  const mic = document.querySelector('#toggle-mic'), cam = document.querySelector('#toggle-cam');
  const s = window.duplexDemo.localStream();
  return { mic: mic.textContent, micDisabled: mic.disabled, cam: cam.textContent, camDisabled: cam.disabled,
    audio: s ? s.getAudioTracks().map((t) => t.enabled) : null, video: s ? s.getVideoTracks().map((t) => t.enabled) : null };
});

async function caseToggles(origin) {
  const problems = [];
  const room = `toggles-${crypto.randomBytes(4).toString('hex')}`;
  const a = await openPage(origin, room, problems);
  const b = await openPage(origin, room, problems);
  const ra = await meshReady(a, 1, 15000), rb = await meshReady(b, 1, 15000);
  expect(ra && rb, `A and B connected, chat open (${JSON.stringify([ra, rb])})`);
  if (!ra || !rb) return problems;
  let u = await mediaUi(a);
  expect(u.micDisabled && u.camDisabled && u.audio === null, `before Start camera A's Mute/Camera buttons are disabled (${JSON.stringify(u)})`);

  // A's camera first, then B's (one renegotiation at a time: glare is the glare case's business).
  for (const [p, q] of [[a, b], [b, a]]) {
    await p.click('#start-camera', { timeout: 5000 });
    const n = await waitFor(p, () => window.duplexDemo.localStream() && window.duplexDemo.localStream().getTracks().length, null, 10000);
    expect(n === 2, `${p.label}: Start camera gives a local stream with 2 tracks (${n})`);
    const t0 = Date.now();
    const w = await settle(q, p, (w) => w.dFrames > 0 && w.dEnergy > 0 && w.s1.pixels, 20000, 500);
    expect(w.ok, `${q.label} decodes ${p.label}'s camera and hears its microphone after ${Date.now() - t0} ms (${fmtWin(w)})`);
    if (!w.ok) return problems;
  }
  u = await mediaUi(a);
  expect(!u.micDisabled && !u.camDisabled && u.mic === 'Mute mic' && u.cam === 'Camera off' &&
    JSON.stringify([u.audio, u.video]) === '[[true],[true]]', `A's buttons read 'Mute mic' / 'Camera off', both tracks enabled (${JSON.stringify(u)})`);
  let w = await span(b, a, 1500);
  expect(w.dEnergy > 0.01 && w.dFrames > 5 && w.s1.pixels && w.s1.pixels.max >= BRIGHT,
    `before the toggles, B hears A (energy grows) and sees A's picture (bright pixels, frames decoded): ${fmtWin(w)}`);

  // Mute mic: A's audio track disabled; B still gets A's audio packets, but silence.
  await a.click('#toggle-mic', { timeout: 5000 });
  u = await mediaUi(a);
  expect(u.mic === 'Unmute mic' && JSON.stringify([u.audio, u.video]) === '[[false],[true]]',
    `Mute mic: A's audio track is disabled (enabled false), the video one is not, the button reads '${u.mic}' (${JSON.stringify(u)})`);
  w = await settle(b, a, (w) => w.dEnergy < 1e-6, 8000);
  expect(w.ok, `B: A's audio energy stopped growing ${w.after} ms after Mute mic (${fmtWin(w)})`);
  let [wb, wa] = await Promise.all([span(b, a, 2000), span(a, b, 2000)]);
  expect(wb.dEnergy < 1e-6 && wb.s1.audio.level === 0 && wb.dPackets >= 25 && /audio live/.test(wb.s1.track),
    `B, while A is muted: A's audio packets keep coming (+${wb.dPackets} in 2 s, track ${wb.s1.track}) and are silence (${fmtWin(wb)})`);
  expect(wa.dEnergy > 0.01, `A, while A is muted, still hears B (${fmtWin(wa)})`);

  await a.click('#toggle-mic', { timeout: 5000 });
  u = await mediaUi(a);
  expect(u.mic === 'Mute mic' && JSON.stringify(u.audio) === '[true]', `Unmute mic: A's audio track is enabled again, the button reads '${u.mic}'`);
  w = await settle(b, a, (w) => w.dEnergy > 0.01, 8000);
  expect(w.ok, `B: A's audio energy grows again ${w.after} ms after Unmute mic (${fmtWin(w)})`);

  // Camera off: A's video track disabled; Chromium then sends black frames, so B decodes black pictures.
  await a.click('#toggle-cam', { timeout: 5000 });
  u = await mediaUi(a);
  expect(u.cam === 'Camera on' && JSON.stringify([u.audio, u.video]) === '[[true],[false]]',
    `Camera off: A's video track is disabled (enabled false), the audio one is not, the button reads '${u.cam}' (${JSON.stringify(u)})`);
  const dark = (w) => w.s0.pixels && w.s1.pixels && w.s0.pixels.max <= DARK && w.s1.pixels.max <= DARK;
  w = await settle(b, a, dark, 8000);
  expect(w.ok, `B: A's picture went black ${w.after} ms after Camera off (${fmtWin(w)})`);
  [wb, wa] = await Promise.all([span(b, a, 2000), span(a, b, 2000)]);
  expect(dark(wb) && wb.dFrames > 0 && /video live/.test(wb.s1.track),
    `B, while A's camera is off: frames still decoded (+${wb.dFrames} in 2 s, track ${wb.s1.track}) and black (${fmtWin(wb)})`);
  expect(wb.dEnergy > 0.01, `B still hears A while A's camera is off (energy +${wb.dEnergy.toFixed(4)})`);
  expect(wa.s1.pixels && wa.s1.pixels.max >= BRIGHT && wa.dFrames > 5, `A still sees B's picture (${fmtWin(wa)})`);

  await a.click('#toggle-cam', { timeout: 5000 });
  u = await mediaUi(a);
  expect(u.cam === 'Camera off' && JSON.stringify(u.video) === '[true]', `Camera on: A's video track is enabled again, the button reads '${u.cam}'`);
  w = await settle(b, a, (w) => w.s0.pixels && w.s1.pixels && w.s1.pixels.max >= BRIGHT && w.s0.pixels.max >= BRIGHT && w.dFrames > 5, 8000);
  expect(w.ok, `B: A's picture is back (bright pixels) and framesDecoded grows ${w.after} ms after Camera on (${fmtWin(w)})`);

  const ub = await mediaUi(b);
  expect(ub.mic === 'Mute mic' && ub.cam === 'Camera off' && JSON.stringify([ub.audio, ub.video]) === '[[true],[true]]',
    `B's own buttons and tracks are untouched (${JSON.stringify(ub)})`);
  await a.close(); await b.close();
  return problems;
}

// A throwaway self-signed P-256 certificate for IP 127.0.0.1 in dir; returns duplex-server's arguments for it.
function makeCert(dir) {
  fs.mkdirSync(dir);
  const cert = path.join(dir, 'cert.pem'), key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert],
  { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20000 });
  return ['--cert', cert, '--key', key];
}

async function caseHttps(origin) {
  const problems = [];
  expect(origin.startsWith('https://'), `duplex-server with --cert/--key listens on ${origin}`);
  const room = `https-${crypto.randomBytes(4).toString('hex')}`;
  const wss = `${origin.replace(/^https:/, 'wss:')}/signal`;
  const hooks = {
    beforeGoto: (page) => {
      page.sockets = [];
      page.on('websocket', (ws) => page.sockets.push(ws.url()));
      page.on('response', (r) => { if (!page.doc && r.request().resourceType() === 'document') page.doc = r; });
    },
  };
  const a = await openPage(origin, room, problems, '', hooks);
  const b = await openPage(origin, room, problems, '', hooks);
  for (const p of [a, b]) {
    const sec = p.doc ? await p.doc.securityDetails() : null;
    expect(sec && sec.subjectName === '127.0.0.1' && /^TLS/.test(sec.protocol || ''), `${p.label}: the page came over ${sec && sec.protocol} with our certificate (${JSON.stringify(sec)})`);
    const info = await p.evaluate(() => ({ protocol: location.protocol, secure: window.isSecureContext,
      gum: !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia),
      ws: window.duplexDemo.signal.ws && window.duplexDemo.signal.ws.url }));
    expect(info.protocol === 'https:' && info.secure && info.gum, `${p.label}: an https page, a secure context with getUserMedia (${JSON.stringify(info)})`);
    expect(info.ws === wss && JSON.stringify(p.sockets) === JSON.stringify([wss]),
      `${p.label}: its only WebSocket is ${wss} (the page's signaling socket: ${info.ws}; Playwright saw ${JSON.stringify(p.sockets)})`);
  }
  const ra = await meshReady(a, 1, 15000), rb = await meshReady(b, 1, 15000);
  expect(ra && ra[0].id === b.peerId && rb && rb[0].id === a.peerId, `A and B connected through wss signaling, chat open (${JSON.stringify([ra, rb])})`);
  if (!ra || !rb) return problems;
  // Polled: A's DTLS state can still read "new" for a moment after the chat opened (seen once on a loaded machine).
  const st = await waitFor(a, async (id) => {
    const s = await window.duplexDemo.stats(id);
    return s && s.dtls === 'connected' ? s : null;
  }, b.peerId, 5000) || await a.evaluate((id) => window.duplexDemo.stats(id), b.peerId);
  expect(st && st.dtls === 'connected' && st.local && st.local.address === '127.0.0.1', `A's stats: DTLS connected, ${JSON.stringify(st && st.local)}`);
  await chatArrives(a, b, `hello over https from A ${Date.now()}`, true);
  await chatArrives(b, a, `hello over https from B \u2713 ${Date.now()}`, false);
  await startBothCameras(a, b);
  await mediaFlows(a, b);
  for (const p of [a, b]) expect(JSON.stringify(p.sockets) === JSON.stringify([wss]), `${p.label} opened no other WebSocket (${JSON.stringify(p.sockets)})`);
  await a.close(); await b.close();

  // 127.0.0.1 is a secure context even over http; a name that is not loopback is one only over https.
  const named = origin.replace('127.0.0.1', HTTPS_NAME);
  const c = await openPage(named, `https-named-${crypto.randomBytes(4).toString('hex')}`, problems, '', hooks);
  const info = await c.evaluate(() => ({ origin: location.origin, secure: window.isSecureContext, ws: window.duplexDemo.signal.ws && window.duplexDemo.signal.ws.url }));
  expect(info.origin === named && info.secure && info.ws === `${named.replace(/^https:/, 'wss:')}/signal` && JSON.stringify(c.sockets) === JSON.stringify([info.ws]),
    `${c.label} at ${named} (mapped to 127.0.0.1): a secure context, signaling over ${info.ws} (${JSON.stringify(info)})`);
  await c.click('#start-camera', { timeout: 5000 });
  const n = await waitFor(c, () => window.duplexDemo.localStream() && window.duplexDemo.localStream().getTracks().length, null, 10000);
  const vw = await waitFor(c, () => { const v = document.querySelector('#videos figure.local video'); return v && v.videoWidth; }, null, 10000);
  expect(n === 2 && vw > 0, `${c.label}: Start camera works there (${n} tracks, local preview ${vw} wide)`);
  await c.close();
  return problems;
}

async function caseGlare(origin) {
  const problems = [];
  const ATTEMPTS = 5;
  // Each page's signaling frames but candidates: { dir: 'sent'|'received', type, t }.
  const hooks = {
    beforeGoto: (page) => {
      page.frames = [];
      page.on('websocket', (ws) => {
        const rec = (dir) => (f) => {
          let m = null;
          try { m = JSON.parse(f.payload); } catch (e) { /* not JSON */ }
          if (!m || m.type !== 'candidate') page.frames.push({ dir, type: m && m.type, t: Date.now() });
        };
        ws.on('framesent', rec('sent'));
        ws.on('framereceived', rec('received'));
      });
    },
  };
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const room = `glare-${attempt}-${crypto.randomBytes(4).toString('hex')}`;
    const a = await openPage(origin, room, problems, '', hooks);
    const b = await openPage(origin, room, problems, '', hooks);
    const ra = await meshReady(a, 1, 15000), rb = await meshReady(b, 1, 15000);
    expect(ra && !ra[0].polite && rb && rb[0].polite, `attempt ${attempt}: A and B connected, chat open, B (the later joiner) polite (${JSON.stringify([ra, rb])})`);
    if (!ra || !rb) return problems;
    const tx = await Promise.all([[a, b], [b, a]].map(([p, q]) => p.evaluate((id) => window.duplexDemo.peer(id).pc.getTransceivers().length, q.peerId)));
    expect(tx[0] === 0 && tx[1] === 0, `only the chat channel so far: no transceivers on either side (${tx})`);
    // Watch the perfect-negotiation machinery: A's ignoreOffer (set true when A, impolite, drops a colliding offer),
    // both sides' signaling states, and the state each remote description is handed over in. An offer handed over
    // while our own is pending (have-local-offer, or still being made: makingOffer, so the state is still stable) is
    // the polite side's implicit rollback; Chromium reports it as have-local-offer > stable > have-remote-offer.
    await a.evaluate((id) => {
      const p = window.duplexDemo.peer(id);
      let v = p.ignoreOffer;
      p.ignoredOffers = 0;
      Object.defineProperty(p, 'ignoreOffer', { configurable: true, get: () => v, set: (x) => { v = x; if (x) p.ignoredOffers++; } });
    }, b.peerId);
    for (const [p, q] of [[a, b], [b, a]]) {
      await p.evaluate((id) => {
        const x = window.duplexDemo.peer(id);
        x.states = [x.pc.signalingState];
        x.pc.addEventListener('signalingstatechange', () => x.states.push(x.pc.signalingState));
        x.applied = [];
        const srd = x.pc.setRemoteDescription;
        x.pc.setRemoteDescription = function (d, ...rest) {
          x.applied.push(`${d && d.type} in ${this.signalingState}${x.makingOffer ? ' (making an offer)' : ''}`);
          return srd.call(this, d, ...rest);
        };
      }, q.peerId);
    }
    const mark = [a.frames.length, b.frames.length];
    const t0 = Date.now();
    await startBothCameras(a, b);
    const settled = await Promise.all([[a, b], [b, a]].map(([p, q]) => waitFor(p, (id) => {
      const x = window.duplexDemo.peer(id);
      return x.pc.signalingState === 'stable' && !x.makingOffer && x.remoteStream.getTracks().length === 2 && x.states;
    }, q.peerId, 15000)));
    const seen = (p, i) => p.frames.slice(mark[i]).filter((f) => f.type === 'offer' || f.type === 'answer');
    const fa = seen(a, 0), fb = seen(b, 1);
    const fmt = (fs) => fs.map((f) => `${f.dir} ${f.type} +${f.t - t0} ms`).join(', ');
    // Glare: each page sent its offer before any answer went either way (both offers in flight at once).
    const offeredFirst = (fs) => {
      const o = fs.findIndex((f) => f.dir === 'sent' && f.type === 'offer'), ans = fs.findIndex((f) => f.type === 'answer');
      return o >= 0 && (ans < 0 || o < ans);
    };
    const glare = offeredFirst(fa) && offeredFirst(fb);
    const ignored = await a.evaluate((id) => window.duplexDemo.peer(id).ignoredOffers, b.peerId);
    const [na, nb] = await Promise.all([[a, b], [b, a]].map(([p, q]) => p.evaluate((id) => {
      const x = window.duplexDemo.peer(id);
      return { states: x.states.join(' > '), applied: x.applied };
    }, q.peerId)));
    say(`attempt ${attempt}: A sent/received [${fmt(fa)}]; B [${fmt(fb)}]; A ignored ${ignored} offer(s); ` +
      `A: states ${na.states}, applied ${JSON.stringify(na.applied)}; B: states ${nb.states}, applied ${JSON.stringify(nb.applied)}`);
    if (!glare && attempt < ATTEMPTS) {
      say(`attempt ${attempt}: the offers did not collide (one camera started later); again with two fresh pages`);
      await a.close(); await b.close();
      continue;
    }
    expect(glare, `glare on attempt ${attempt} of ${ATTEMPTS}: each page sent its offer before any answer (A: ${fmt(fa)}; B: ${fmt(fb)})`);
    expect(ignored >= 1, `A (impolite) ignored B's colliding offer (${ignored} time(s))`);
    const rollback = / have-local-offer > stable > have-remote-offer/.test(` ${nb.states}`);
    expect(/^offer in (have-local-offer|stable \(making an offer\))$/.test(nb.applied[0] || '') && rollback,
      `B (polite) took A's offer while its own was pending and rolled its own back: the first description it applied is A's offer (${JSON.stringify(nb.applied)}; states ${nb.states})`);
    expect(na.applied[0] === 'answer in have-local-offer',
      `A did not apply B's colliding offer: the first description it applied is B's answer to its own (applied ${JSON.stringify(na.applied)})`);
    expect(settled.every(Boolean), `both sides stable with the other's audio and video tracks (${JSON.stringify(settled)})`);
    await mediaFlows(a, b);
    await chatArrives(a, b, `chat after the glare from A ${Date.now()}`, true);
    await chatArrives(b, a, `chat after the glare from B ${Date.now()}`, false);
    for (const p of [a, b]) {
      const s = await p.evaluate(() => ({ banner: document.querySelector('#banner').hidden ? '' : document.querySelector('#banner').textContent,
        errors: window.duplexDemo.state.errors, media: document.querySelector('#media-status').textContent }));
      const warnings = p.consoleLog.filter((l) => /^(warning|error):/.test(l) && !/status of 404/.test(l));
      expect(!s.banner && s.errors.length === 0 && warnings.length === 0 && /^Sending audio \+ video/.test(s.media),
        `${p.label} shows no error: no banner '${s.banner}', signaling errors ${JSON.stringify(s.errors)}, console warnings ${JSON.stringify(warnings)}, media status '${s.media}'`);
    }
    await a.close(); await b.close();
    return problems;
  }
  return problems;
}

// The first hour: two tabs opened at the bare address meet in the room "demo" (the README's quick start).
async function caseDefaults(origin) {
  const problems = [];
  const a = await openPage(origin, null, problems);
  const b = await openPage(origin, null, problems);
  for (const p of [a, b]) {
    const where = await p.evaluate(() => ({ room: window.duplexDemo.state.room, search: location.search,
      share: document.querySelector('#share-link').value }));
    expect(where.room === 'demo' && where.search === '?room=demo' && where.share === `${origin}/?room=demo`,
      `${p.label}: a bare visit joins room demo and shows its share link (${JSON.stringify(where)})`);
  }
  const ra = await meshReady(a, 1, 15000), rb = await meshReady(b, 1, 15000);
  expect(ra && rb && ra[0].id === b.peerId && rb[0].id === a.peerId, 'the two tabs found each other and connected');
  if (ra && rb) await chatArrives(a, b, `met in demo ${Date.now()}`, true);
  await a.close(); await b.close();
  return problems;
}

// --signal-secret: a page without a token is told how to get one; pages with ?token= join and meet.
async function caseToken(origin) {
  const problems = [];
  const room = `token-${crypto.randomBytes(4).toString('hex')}`;
  const none = await openPage(origin, room, problems, '', { noJoin: true });
  const banner = await waitFor(none, () => { const b = document.querySelector('#banner'); return !b.hidden && b.textContent; }, null, 10000);
  expect(!!banner && /needs a join token/.test(banner) && /duplex-server token --room/.test(banner) && banner.includes(room),
    `without a token the page says how to get one: '${banner}'`);
  await none.close();
  const token = execFileSync(SERVER, ['token', '--room', room, '--secret', TOKEN_SECRET, '--ttl', '600'], { encoding: 'utf8' }).trim();
  const a = await openPage(origin, room, problems, `&token=${encodeURIComponent(token)}`);
  const b = await openPage(origin, room, problems, `&token=${encodeURIComponent(token)}`);
  const share = await a.$eval('#share-link', (e) => e.value);
  expect(share === `${origin}/?room=${room}&token=${encodeURIComponent(token)}`, `the share link carries the token (${share})`);
  const ra = await meshReady(a, 1, 15000), rb = await meshReady(b, 1, 15000);
  expect(ra && rb, 'two pages with the token joined and connected');
  await a.close(); await b.close();
  return problems;
}

// ---- the demo page with duplex-peer (apps/duplex-peer) --------------------------------------------------------------

// Starts duplex-peer in a process group of its own; its stdout/stderr lines are kept (with times) in proc.log.
let nativeNo = 0;
function startNative(args) {
  const proc = spawn(PEER, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.label = `duplex-peer#${++nativeNo}`;
  proc.args = args;
  proc.log = [];
  natives.add(proc);
  const t0 = Date.now();
  const lines = (stream, tag) => readline.createInterface({ input: stream }).on('line', (l) => {
    proc.log.push(`+${((Date.now() - t0) / 1000).toFixed(2)}s ${tag}: ${l}`);
    proc.emit('line', tag, l);
  });
  lines(proc.stdout, 'out');
  lines(proc.stderr, 'err');
  proc.on('error', (e) => proc.log.push(`spawn error: ${e.message}`));
  // 'close': exited and its output read to the end.
  proc.done = new Promise((r) => proc.on('close', (code, sig) => r(sig || code)));
  return proc;
}
// Resolves with the first match of re in a line of proc's stdout ('out') or stderr ('err'), or null after ms.
function nativeLine(proc, tag, re, ms) {
  return new Promise((resolve) => {
    for (const l of proc.log) {
      const m = l.replace(/^\+\S+ /, '');
      if (m.startsWith(`${tag}: `)) { const x = re.exec(m.slice(tag.length + 2)); if (x) return resolve(x); }
    }
    const timer = setTimeout(() => { proc.off('line', on); resolve(null); }, ms);
    const on = (t, l) => {
      if (t !== tag) return;
      const x = re.exec(l);
      if (x) { clearTimeout(timer); proc.off('line', on); resolve(x); }
    };
    proc.on('line', on);
  });
}
const exitedWithin = (proc, ms) => Promise.race([proc.done, sleep(ms).then(() => `still running after ${ms / 1000} s`)]);
const nativeArgs = (origin, room, id, mode) => ['--signal', `${origin.replace(/^http/, 'ws')}/signal`, '--room', room,
  '--id', id, '--bind', '127.0.0.1', '-v', '--timeout', '45', ...mode];

// On a failed check in a native case: what both sides said.
function dumpNative(procs, pages) {
  for (const p of procs) say(`[${p.label} ${p.args.join(' ')}]\n  ${p.log.join('\n  ') || '(no output)'}`);
  for (const p of pages) say(`[${p.label} console]\n  ${p.consoleLog.join('\n  ') || '(empty)'}`);
}

// Waits until the page shows `id` connected: ICE connected, DTLS connected, chat open, a host/udp path (the peer
// list), and getStats' selected pair is host 127.0.0.1 on our side. Returns the peer's entry from peers().
async function nativeConnected(page, id, ms) {
  const ready = await waitFor(page, (id) => {
    const p = window.duplexDemo.peers().find((x) => x.id === id);
    return p && (p.ice === 'connected' || p.ice === 'completed') && p.connection === 'connected' && p.chat === 'open' && p;
  }, id, ms);
  expect(!!ready, `${page.label}: ${id} connected, chat open (${JSON.stringify(ready || await page.evaluate(() => window.duplexDemo.peers()))})`);
  if (!ready) return null;
  const shown = await waitFor(page, (id) => {
    const li = document.querySelector(`#peers li[data-peer="${id}"]`);
    const t = li && li.textContent;
    return t && /ICE (connected|completed)/.test(t) && /DTLS connected/.test(t) && /chat open/.test(t) && /path host\/udp ↔/.test(t) && t;
  }, id, 5000);
  expect(!!shown, `${page.label}'s peer list shows ICE/DTLS connected and a host path: '${shown || await page.textContent('#peers').catch(() => '?')}'`);
  const st = await page.evaluate((id) => window.duplexDemo.stats(id), id);
  expect(st && st.connection === 'connected' && st.dtls === 'connected' && st.local && st.local.type === 'host' &&
    st.local.protocol === 'udp' && st.local.address === '127.0.0.1' && st.remote && st.remote.address === '127.0.0.1',
  `${page.label}'s getStats: connected, DTLS connected (${st && st.tlsVersion}), selected pair local ${JSON.stringify(st && st.local)} remote ${JSON.stringify(st && st.remote)}`);
  return ready;
}

// Types text into the page's chat and waits for duplex-peer's echo (from its id) in the chat log, exactly once.
async function echoArrives(page, id, text) {
  await page.fill('#chat-input', text, { timeout: 5000 });
  await page.click('#chat-send', { timeout: 5000 });
  const got = await waitFor(page, ([t, f]) => window.duplexDemo.chat.some((c) => c.text === t && c.from === f && !c.mine),
    [text, id], 10000);
  await sleep(200);   // a duplicated echo would show up by now
  const shown = await page.$$eval('#chat-log li.theirs', (ls, [t, f]) => ls.filter((l) => {
    const from = l.querySelector('.from');
    return from && from.textContent === f && l.textContent === f + t;
  }).length, [text, id]);
  const mine = await page.$$eval('#chat-log li.mine', (ls, t) => ls.filter((l) => l.textContent.endsWith(t)).length, text);
  return expect(!!got && shown === 1 && mine === 1,
    `${page.label} typed '${text}': shown once as sent, its echo from ${id} shown ${shown} time(s) in #chat-log`);
}

// The m-lines of an SDP: [{ kind, port, mid }], and its BUNDLE group.
function mlines(sdp) {
  const out = [];
  let bundle = null;
  for (const l of (sdp || '').split(/\r?\n/)) {
    let m;
    if ((m = /^m=(\w+) (\d+) /.exec(l))) out.push({ kind: m[1], port: +m[2], mid: null });
    else if ((m = /^a=mid:(\S+)/.exec(l)) && out.length) out[out.length - 1].mid = m[1];
    else if ((m = /^a=group:BUNDLE(.*)$/.exec(l))) bundle = m[1].trim().split(/\s+/).filter(Boolean);
  }
  return { m: out, bundle };
}
const descriptions = (page, id) => page.evaluate((id) => {
  const pc = window.duplexDemo.peer(id).pc;
  return { signaling: pc.signalingState, local: pc.currentLocalDescription && pc.currentLocalDescription.toJSON(),
    remote: pc.currentRemoteDescription && pc.currentRemoteDescription.toJSON() };
}, id);
// The page's offer (local) has audio, video and application m-lines; duplex-peer's answer rejects audio and video
// (port 0) and accepts the application one, which carries the BUNDLE group.
function checkRejectedMedia(page, d, what) {
  const offer = mlines(d.local && d.local.sdp), answer = mlines(d.remote && d.remote.sdp);
  const kinds = offer.m.map((x) => x.kind).sort().join(',');
  const app = answer.m.find((x) => x.kind === 'application');
  const media = answer.m.filter((x) => x.kind !== 'application');
  const summary = JSON.stringify({ signaling: d.signaling, offer: offer.m, offerBundle: offer.bundle, answer: answer.m, answerBundle: answer.bundle });
  expect(d.signaling === 'stable' && d.local && d.local.type === 'offer' && d.remote && d.remote.type === 'answer' &&
    kinds === 'application,audio,video' && answer.m.length === offer.m.length &&
    answer.m.every((x, i) => x.kind === offer.m[i].kind && x.mid === offer.m[i].mid) &&
    media.length === 2 && media.every((x) => x.port === 0) && app && app.port !== 0 &&
    JSON.stringify(answer.bundle) === JSON.stringify([app.mid]),
  `${page.label}: ${what}: the page offered audio+video+application, duplex-peer answered audio/video rejected (port 0), BUNDLE ${JSON.stringify(answer.bundle)} = the application mid (${summary})`);
}

// duplex-peer gets SIGTERM: it exits 0 and the page sees it leave.
async function stopNative(proc, page) {
  expect(proc.exitCode === null && proc.signalCode === null, `${proc.label} still runs before SIGTERM (${proc.exitCode ?? proc.signalCode ?? 'yes'})`);
  proc.kill('SIGTERM');
  const code = await exitedWithin(proc, 8000);
  expect(code === 0, `${proc.label} exits 0 on SIGTERM (${code})`);
  const left = await waitFor(page, (id) => window.duplexDemo.chat.some((x) => x.system && x.text === `${id} left`) &&
    window.duplexDemo.peers().length === 0, proc.peerId, 10000);
  expect(!!left, `${page.label} got peer-left for ${proc.peerId} and has no peer left`);
}

async function caseNativeChat(origin) {
  const problems = [];
  const failsBefore = fails.length;
  const procs = [], pages = [];
  const echo = ['--echo', '--label', 'chat'];
  try {
    // 1. The page joins first: duplex-peer joins second and offers, with its 'chat' channel.
    const room1 = `native-chat-${crypto.randomBytes(4).toString('hex')}`;
    const a = await openPage(origin, room1, problems);
    pages.push(a);
    const n1 = startNative(nativeArgs(origin, room1, 'duplex-peer-1', echo));
    n1.peerId = 'duplex-peer-1';
    procs.push(n1);
    let t0 = Date.now();
    const r1 = await nativeConnected(a, n1.peerId, 15000);
    say(`page first: connected in ${Date.now() - t0} ms`);
    if (!r1) return problems;
    expect(r1 && !r1.polite, `${a.label} joined first, so it is the impolite side towards ${n1.peerId} (${r1 && r1.polite})`);
    const d1 = r1 && await descriptions(a, n1.peerId);
    expect(d1 && d1.remote && d1.remote.type === 'offer' && d1.local && d1.local.type === 'answer' &&
      mlines(d1.remote.sdp).m.map((x) => x.kind).join() === 'application',
    `duplex-peer offered (one application m-line), the page answered (${JSON.stringify(d1 && { remote: d1.remote && mlines(d1.remote.sdp), local: d1.local && d1.local.type })})`);
    expect(!!await nativeLine(n1, 'err', new RegExp(`peer ${a.peerId}: channel 'chat' open$`), 5000), `${n1.label} logs its 'chat' channel open with ${a.peerId}`);
    expect(!!await nativeLine(n1, 'err', new RegExp(`peer ${a.peerId}: connected \\(`), 5000), `${n1.label} logs connection connected`);
    {
      await echoArrives(a, n1.peerId, `hello duplex-peer ${Date.now()}`);
      await echoArrives(a, n1.peerId, 'non-ASCII: \u00e9\u00e8 \u2713 \u{1f600} \u65e5\u672c');
      // Start camera: the page renegotiates with audio and video; duplex-peer rejects them, the channel stays.
      await a.click('#start-camera', { timeout: 5000 });
      const tracks = await waitFor(a, () => window.duplexDemo.localStream() && window.duplexDemo.localStream().getTracks().length, null, 10000);
      expect(tracks === 2, `${a.label}: Start camera gives a local stream with 2 tracks (${tracks})`);
      const reneg = await waitFor(a, (id) => {
        const pc = window.duplexDemo.peer(id).pc;
        return pc.signalingState === 'stable' && pc.currentRemoteDescription && pc.currentRemoteDescription.type === 'answer' &&
          /\nm=audio /.test(pc.currentRemoteDescription.sdp) && /\nm=video /.test(pc.currentRemoteDescription.sdp);
      }, n1.peerId, 10000);
      expect(!!reneg, `${a.label} renegotiated with audio/video and got duplex-peer's answer`);
      checkRejectedMedia(a, await descriptions(a, n1.peerId), 'renegotiation after Start camera');
      const after = await a.evaluate(() => window.duplexDemo.peers());
      expect(after.length === 1 && after[0].connection === 'connected' && after[0].chat === 'open', `still connected after the renegotiation (${JSON.stringify(after)})`);
      await echoArrives(a, n1.peerId, `after the camera ${Date.now()}`);
    }
    await stopNative(n1, a);

    // 2. duplex-peer joins first: the page offers. Its signaling is held until the fake camera runs, so that its
    //    first offer carries audio and video (and the 'chat' channel).
    const room2 = `native-chat-${crypto.randomBytes(4).toString('hex')}`;
    const n2 = startNative(nativeArgs(origin, room2, 'duplex-peer-2', echo));
    n2.peerId = 'duplex-peer-2';
    procs.push(n2);
    expect(!!await nativeLine(n2, 'err', /joined room /, 10000), `${n2.label} joined ${room2}`);
    let release = null;
    const b = await openPage(origin, room2, problems, '', {
      beforeGoto: (page) => page.routeWebSocket(/\/signal$/, (ws) => {
        const pending = [];
        let server = null;
        ws.onMessage((m) => { if (server) server.send(m); else pending.push(m); });
        release = () => { server = ws.connectToServer(); for (const m of pending) server.send(m); };
      }),
      beforeJoin: async (page) => {
        await page.click('#start-camera', { timeout: 5000 });
        const tr = await waitFor(page, () => window.duplexDemo.localStream() && window.duplexDemo.localStream().getTracks().length, null, 10000);
        expect(tr === 2 && !await page.evaluate(() => window.duplexDemo.state.id),
          `${page.label}: the fake camera runs (${tr} tracks) before the page has joined`);
        for (let i = 0; i < 50 && !release; i++) await sleep(100);
        expect(!!release, `${page.label}'s signaling WebSocket was held`);
        if (release) release();
      },
    });
    pages.push(b);
    t0 = Date.now();
    const r2 = await nativeConnected(b, n2.peerId, 15000);
    say(`duplex-peer first: connected in ${Date.now() - t0} ms`);
    if (!r2) return problems;
    expect(r2 && r2.polite, `${b.label} joined second: it offered and is the polite side (${r2 && r2.polite})`);
    checkRejectedMedia(b, await descriptions(b, n2.peerId), 'first offer');
    expect(!!await nativeLine(n2, 'err', new RegExp(`peer ${b.peerId}: channel 'chat' open$`), 5000), `${n2.label} logs the page's 'chat' channel open with ${b.peerId}`);
    await echoArrives(b, n2.peerId, `hello from the offering page ${Date.now()}`);
    await echoArrives(b, n2.peerId, 'second \u2713');
    const bad = (p) => p.log.filter((l) => /refused|fail|error/i.test(l));
    for (const p of procs) expect(bad(p).length === 0, `${p.label} logged no refusal or failure ${JSON.stringify(bad(p))}`);
    await stopNative(n2, b);
  } finally {
    if (fails.length > failsBefore) dumpNative(procs, pages);
    killNatives();
    for (const p of pages) await p.close().catch(() => {});
  }
  return problems;
}

// `duplex-peer --send TEXT --label chat` to the page: the page shows the plain text in its chat (issue 15), and
// duplex-peer, which gets no reply from a chat, finishes by itself with exit 0 and says so.
// native-media: the page's fake camera and microphone through `duplex-peer --media-echo` and back, in both join
// orders. The page decodes what comes back: inbound-rtp video framesDecoded (with a frame size) and audio
// packetsReceived grow over 2 s; both media m-lines were answered sendrecv (or offered so by duplex-peer);
// duplex-peer says it echoes the page's video (VP8) and audio (opus), and on SIGTERM prints per-track counts.
async function caseNativeMedia(origin) {
  const problems = [];
  const failsBefore = fails.length;
  const procs = [], pages = [];
  const mode = ['--echo', '--label', 'chat', '--media-echo'];
  const echoed = async (page, id, what) => {
    const stats = () => page.evaluate((id) => window.duplexDemo.stats(id).then((s) => s.inbound), id);
    let first = null;
    for (let i = 0; i < 100 && !first; i++) {
      const s = await stats();
      if (s.video && s.video.framesDecoded > 0 && s.audio && s.audio.packetsReceived > 0) first = s;
      else await sleep(200);
    }
    expect(!!first, `${page.label}: ${what}: the echoed camera decodes and the echoed audio arrives (${JSON.stringify(first || await stats())})`);
    if (!first) return;
    await sleep(2000);  // samples a rate: the frames decoded over 2 s
    const later = await stats();
    expect(later.video.framesDecoded >= first.video.framesDecoded + 20 && later.video.frameWidth > 0 &&
      later.audio.packetsReceived >= first.audio.packetsReceived + 50,
    `${page.label}: ${what}: over 2 s, ${later.video.framesDecoded - first.video.framesDecoded} more frames decoded ` +
      `(${later.video.frameWidth}x${later.video.frameHeight}), ${later.audio.packetsReceived - first.audio.packetsReceived} more audio packets`);
  };
  const sendrecv = (d, who) => {
    const sdp = who === 'answer' ? d.remote && d.remote.sdp : d.local && d.local.sdp;
    const media = (sdp || '').split(/\r?\nm=/).slice(1).filter((m) => /^(audio|video) [1-9]/.test(m));
    return media.length === 2 && media.every((m) => /\r?\na=sendrecv/.test(m));
  };
  try {
    // 1. The page joins first and starts its camera; duplex-peer joins and offers audio, video and 'chat'.
    const room1 = `native-media-${crypto.randomBytes(4).toString('hex')}`;
    const a = await openPage(origin, room1, problems);
    pages.push(a);
    await a.click('#start-camera', { timeout: 5000 });
    const n1 = startNative(nativeArgs(origin, room1, 'duplex-peer-media-1', mode));
    n1.peerId = 'duplex-peer-media-1';
    procs.push(n1);
    if (!await nativeConnected(a, n1.peerId, 15000)) return problems;
    await echoed(a, n1.peerId, 'duplex-peer offered');
    expect(!!await nativeLine(n1, 'err', new RegExp(`peer ${a.peerId}: echoing its video \\(VP8\\)$`), 5000) &&
      !!await nativeLine(n1, 'err', new RegExp(`peer ${a.peerId}: echoing its audio \\(opus\\)$`), 5000),
    `${n1.label} says it echoes the page's video (VP8) and audio (opus)`);
    await echoArrives(a, n1.peerId, `chat beside media ${Date.now()}`);
    await stopNative(n1, a);
    expect(!!await nativeLine(n1, 'err', new RegExp(`peer ${a.peerId}: video: [1-9]\\d* frames received \\(\\d+ key\\), [1-9]\\d* echoed`), 0),
      `${n1.label} reports the video frames it received and echoed`);

    // 2. duplex-peer joins first; the page, camera on before it joins, offers audio, video and 'chat'.
    const room2 = `native-media-${crypto.randomBytes(4).toString('hex')}`;
    const n2 = startNative(nativeArgs(origin, room2, 'duplex-peer-media-2', mode));
    n2.peerId = 'duplex-peer-media-2';
    procs.push(n2);
    expect(!!await nativeLine(n2, 'err', /joined room /, 10000), `${n2.label} joined ${room2}`);
    let release = null;
    const b = await openPage(origin, room2, problems, '', {
      beforeGoto: (page) => page.routeWebSocket(/\/signal$/, (ws) => {
        const pending = [];
        let server = null;
        ws.onMessage((m) => { if (server) server.send(m); else pending.push(m); });
        release = () => { server = ws.connectToServer(); for (const m of pending) server.send(m); };
      }),
      beforeJoin: async (page) => {
        await page.click('#start-camera', { timeout: 5000 });
        await waitFor(page, () => window.duplexDemo.localStream() && window.duplexDemo.localStream().getTracks().length, null, 10000);
        for (let i = 0; i < 50 && !release; i++) await sleep(100);
        if (release) release();
      },
    });
    pages.push(b);
    if (!await nativeConnected(b, n2.peerId, 15000)) return problems;
    const d2 = await descriptions(b, n2.peerId);
    expect(d2.local && d2.local.type === 'offer' && sendrecv(d2, 'answer'),
      `${b.label} offered; duplex-peer answered its audio and video sendrecv (${JSON.stringify(d2.remote && mlines(d2.remote.sdp))})`);
    await echoed(b, n2.peerId, 'the page offered');
    await stopNative(n2, b);
    const bad = (p) => p.log.filter((l) => /refused|fail|error/i.test(l));
    for (const p of procs) expect(bad(p).length === 0, `${p.label} logged no refusal or failure ${JSON.stringify(bad(p))}`);
  } finally {
    if (fails.length > failsBefore) dumpNative(procs, pages);
    killNatives();
    for (const p of pages) await p.close().catch(() => {});
  }
  return problems;
}

// native-renegotiate: a call that starts with chat only and adds media later, then has its video stopped and
// replaced, all on one live connection with `duplex-peer --echo --label chat --media-echo`. duplex-peer joins first;
// the page joins (camera off) and offers chat alone. (1) The page starts its camera: it renegotiates with audio and
// video; the echoed video decodes. (2) The page stops its video transceiver (RTCRtpTransceiver.stop()): the
// renegotiation rejects that m= line (port 0) and duplex-peer's track stops too. (3) The page adds a new video track
// (a canvas stream): the next renegotiation gives it a new mid and the echo of that new track decodes. Chat works
// after each step, and the connection was never replaced.
async function caseNativeRenegotiate(origin) {
  const problems = [];
  const failsBefore = fails.length;
  const procs = [], pages = [];
  try {
    const room = `native-renegotiate-${crypto.randomBytes(4).toString('hex')}`;
    const n = startNative(nativeArgs(origin, room, 'duplex-peer-reneg', ['--echo', '--label', 'chat', '--media-echo']));
    n.peerId = 'duplex-peer-reneg';
    procs.push(n);
    expect(!!await nativeLine(n, 'err', /joined room /, 10000), `${n.label} joined ${room}`);
    const a = await openPage(origin, room, problems);
    pages.push(a);
    if (!await nativeConnected(a, n.peerId, 15000)) return problems;
    const state = () => a.evaluate((id) => {
      const pc = window.duplexDemo.peer(id).pc;
      return { signaling: pc.signalingState, lines: (pc.currentRemoteDescription || { sdp: '' }).sdp.split(/\r?\nm=/).slice(1)
        .map((m) => m.split(' ').slice(0, 2).join(':')),
        transceivers: pc.getTransceivers().map((t) => ({ mid: t.mid, kind: t.receiver.track.kind, current: t.currentDirection })) };
    }, n.peerId);
    const s0 = await state();
    expect(s0.lines.length === 1 && /^application:[1-9]/.test(s0.lines[0]), `${a.label} and duplex-peer began with chat alone (${JSON.stringify(s0.lines)})`);
    const pcId = await a.evaluate((id) => { const pc = window.duplexDemo.peer(id).pc; pc.__tag = pc.__tag || Math.random(); return pc.__tag; }, n.peerId);
    // Frames decoded of the inbound video whose mid is `mid` (any when null), over `ms`.
    const decodedOver = async (mid, ms) => {
      const read = () => a.evaluate(async ([id, mid]) => {
        let frames = 0;
        (await window.duplexDemo.peer(id).pc.getStats()).forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video' && (mid === null || s.mid === mid)) frames += s.framesDecoded || 0;
        });
        return frames;
      }, [n.peerId, mid]);
      let first = 0;
      for (let i = 0; i < 75 && first === 0; i++) { first = await read(); if (first === 0) await sleep(200); }
      await sleep(ms);
      return first === 0 ? 0 : await read() - first;
    };

    // 1. Media added to the live chat connection.
    await a.click('#start-camera', { timeout: 5000 });
    const d1 = await decodedOver(null, 1500);
    const s1 = await state();
    expect(d1 >= 15 && s1.signaling === 'stable', `1. camera added later: ${d1} echoed frames decoded over 1.5 s (${JSON.stringify(s1.transceivers)})`);
    await echoArrives(a, n.peerId, `chat after adding media ${Date.now()}`);

    // 2. The video transceiver stopped.
    const oldMid = await a.evaluate((id) => {
      const t = window.duplexDemo.peer(id).pc.getTransceivers().find((x) => x.receiver.track.kind === 'video' && x.currentDirection !== 'stopped');
      t.stop();
      return t.mid;
    }, n.peerId);
    const stopped = await waitFor(a, ([id, mid]) => {
      const pc = window.duplexDemo.peer(id).pc;
      const sdp = pc.currentRemoteDescription && pc.currentRemoteDescription.sdp || '';
      const line = sdp.split(/\r?\nm=/).slice(1).find((m) => new RegExp(`\\r?\\na=mid:${mid}\\r?\\n`).test(m + '\r\n'));
      return pc.signalingState === 'stable' && line && /^video 0 /.test(line);
    }, [n.peerId, oldMid], 10000);
    expect(!!stopped, `2. the page stopped its video (mid ${oldMid}): duplex-peer's answer rejects that line (${JSON.stringify((await state()).lines)})`);
    await echoArrives(a, n.peerId, `chat after stopping video ${Date.now()}`);

    // 3. A new video track: a canvas that changes every frame.
    const newMid = await a.evaluate(async (id) => {
      const pc = window.duplexDemo.peer(id).pc;
      const canvas = Object.assign(document.createElement('canvas'), { width: 320, height: 240 });
      const g = canvas.getContext('2d');
      let k = 0;
      setInterval(() => { g.fillStyle = `hsl(${(k += 7) % 360} 80% 50%)`; g.fillRect(0, 0, 320, 240); g.fillStyle = '#000'; g.fillText(String(k), 10, 20); }, 33);
      const track = canvas.captureStream(30).getVideoTracks()[0];
      const sender = pc.addTrack(track, new MediaStream([track]));
      // Its negotiation done: each signaling state change is looked at, for 10 s at most.
      const negotiated = () => {
        const t = pc.getTransceivers().find((x) => x.sender === sender);
        return t && t.mid && pc.signalingState === 'stable' && t.currentDirection ? t.mid : null;
      };
      return new Promise((resolve) => {
        const check = () => {
          const mid = negotiated();
          if (!mid) return;
          pc.removeEventListener('signalingstatechange', check);
          clearTimeout(timer);
          resolve(mid);
        };
        const timer = setTimeout(() => { pc.removeEventListener('signalingstatechange', check); resolve(negotiated()); }, 10000);
        pc.addEventListener('signalingstatechange', check);
      });
    }, n.peerId);
    expect(!!newMid && newMid !== oldMid, `3. a new video track negotiated on the live connection (mid ${newMid}, the stopped one was ${oldMid})`);
    const d3 = newMid ? await decodedOver(newMid, 1500) : 0;
    expect(d3 >= 15, `3. the new track's echo decodes: ${d3} frames over 1.5 s on mid ${newMid} (${JSON.stringify((await state()).transceivers)})`);
    await echoArrives(a, n.peerId, `chat after replacing video ${Date.now()}`);
    const samePc = await a.evaluate(([id, tag]) => window.duplexDemo.peer(id).pc.__tag === tag, [n.peerId, pcId]);
    expect(samePc, 'the same RTCPeerConnection all along (renegotiated, never replaced)');
    await stopNative(n, a);
    expect(!!await nativeLine(n, 'err', new RegExp(`peer ${a.peerId}: video: [1-9]\\d* frames received \\(\\d+ key\\), [1-9]\\d* echoed`), 0),
      `${n.label} reports the video frames it echoed`);
    // Said once per track it echoes (not once per frame): audio, the first video, the new video.
    const says = (what) => n.log.filter((l) => l.endsWith(`peer ${a.peerId}: echoing its ${what}`)).length;
    expect(says('audio (opus)') === 1 && says('video (VP8)') === 2,
      `${n.label} said "echoing its audio" ${says('audio (opus)')} time(s) and "echoing its video" ${says('video (VP8)')} time(s) (1 and 2)`);
  } finally {
    if (fails.length > failsBefore) dumpNative(procs, pages);
    killNatives();
    for (const p of pages) await p.close().catch(() => {});
  }
  return problems;
}

// native-testsrc: `duplex-peer --video testsrc --audio tone` joins a page's room and offers. For 5 s the page reads
// each presented frame of duplex-peer's video from a canvas: the frame number of the test pattern's bar code
// (media/test_pattern.hpp) must read, the numbers must only grow, and never more than three in a row may be missing
// (the picture did not freeze; headless Chromium skips presenting single decoded frames); inbound-rtp framesDecoded
// must grow at about the 30 frames/s duplex-peer sends, and the tone's totalAudioEnergy must grow.
// native-testsrc-h264: the same with `--video-codec h264` (OpenH264): duplex-peer offers H.264 first, the page
// answers it and decodes video/H264. native-testsrc-h264-mode0: the same with duplex-peer's offer cut, on its way to
// the page, to H.264 in packetization mode 0 alone (RFC 6184 §6.2: single NAL unit packets; duplex-peer's encoder
// makes slices of at most 1000 bytes): the page decodes it, its codec's fmtp says packetization-mode=0.
async function caseNativeTestsrc(origin, codec = 'vp8', mode0 = false) {
  const problems = [];
  const failsBefore = fails.length;
  const procs = [], pages = [];
  try {
    const room = `native-testsrc-${crypto.randomBytes(4).toString('hex')}`;
    // mode0: duplex-peer's offer reaches the page with H.264 in packetization mode 0 alone (its other video codecs
    // taken out of the m=video line on the way), so the page must answer that.
    const onlyMode0 = (sdp) => {
      const pts = new Set();
      for (const m of sdp.matchAll(/a=fmtp:(\d+) [^\r\n]*packetization-mode=0/g)) pts.add(m[1]);
      for (const m of sdp.matchAll(/a=fmtp:(\d+) apt=(\d+)/g)) if (pts.has(m[2])) pts.add(m[1]);
      return sdp.split('\r\n').filter((l) => {
        const m = /^a=(?:rtpmap|fmtp|rtcp-fb):(\d+)/.exec(l);
        return !m || pts.has(m[1]);
      }).map((l) => (l.startsWith('m=video ') ? l.split(' ').slice(0, 3).concat([...pts]).join(' ') : l)).join('\r\n');
    };
    const hooks = !mode0 ? {} : {
      beforeGoto: (page) => page.routeWebSocket(/\/signal$/, (ws) => {
        const server = ws.connectToServer();
        ws.onMessage((m) => server.send(m));
        server.onMessage((m) => {
          let j = null;
          try { j = JSON.parse(m); } catch (e) { /* not ours */ }
          if (j && j.type === 'offer' && typeof j.sdp === 'string') {
            const [head, ...sections] = j.sdp.split(/\r\n(?=m=)/);
            j.sdp = [head, ...sections.map((s) => (s.startsWith('m=video') ? onlyMode0(s) : s))].join('\r\n');
            m = JSON.stringify(j);
          }
          ws.send(m);
        });
      }),
    };
    const a = await openPage(origin, room, problems, '', hooks);
    pages.push(a);
    const n = startNative(nativeArgs(origin, room, 'duplex-peer-testsrc',
      ['--video', 'testsrc', '--audio', 'tone', '--video-codec', codec]));
    n.peerId = 'duplex-peer-testsrc';
    procs.push(n);
    const playing = await waitFor(a, (id) => {
      const v = document.querySelector(`#videos figure[data-peer="${id}"] video`);
      return v && v.videoWidth > 0 && v.currentTime > 0 && `${v.videoWidth}x${v.videoHeight}`;
    }, n.peerId, 20000);
    expect(playing === '640x480', `${a.label} plays duplex-peer's test pattern (${playing})`);
    if (!playing) return problems;
    const inbound = () => a.evaluate(async (id) => {
      const out = {};
      const report = await window.duplexDemo.peer(id).pc.getStats();
      report.forEach((s) => {
        if (s.type === 'inbound-rtp') out[s.kind] = { framesDecoded: s.framesDecoded, packetsLost: s.packetsLost,
          totalAudioEnergy: s.totalAudioEnergy, nackCount: s.nackCount, pliCount: s.pliCount,
          mimeType: s.codecId && report.get(s.codecId) ? report.get(s.codecId).mimeType : null,
          fmtp: s.codecId && report.get(s.codecId) ? report.get(s.codecId).sdpFmtpLine : null };
      });
      return out;
    }, n.peerId);
    const before = await inbound();
    const seen = await a.evaluate((id) => new Promise((resolve) => {
      const v = document.querySelector(`#videos figure[data-peer="${id}"] video`);
      const c = document.createElement('canvas');
      c.width = v.videoWidth;
      c.height = v.videoHeight;
      const ctx = c.getContext('2d', { willReadFrequently: true });
      // The bar code: 18 blocks of 16x16 along the top, white start, 16 bits, black stop.
      const luma = (d, i) => { const o = ((8 * c.width) + i * 16 + 8) * 4; return 0.299 * d[o] + 0.587 * d[o + 1] + 0.114 * d[o + 2]; };
      const numbers = [];
      let unreadable = 0;
      let firstPresented = null, lastPresented = null;
      const t0 = performance.now();
      const step = (now, meta) => {
        if (firstPresented === null) firstPresented = meta.presentedFrames;
        lastPresented = meta.presentedFrames;
        ctx.drawImage(v, 0, 0);
        const d = ctx.getImageData(0, 0, c.width, 16).data;
        if (luma(d, 0) > 180 && luma(d, 17) < 70) {
          let n = 0;
          for (let b = 1; b <= 16; b++) n = (n << 1) | (luma(d, b) >= 128 ? 1 : 0);
          numbers.push(n);
        } else unreadable++;
        if (performance.now() - t0 > 5000) resolve({ numbers, unreadable, presented: lastPresented - firstPresented + 1 });
        else v.requestVideoFrameCallback(step);
      };
      v.requestVideoFrameCallback(step);
    }), n.peerId);
    const after = await inbound();
    const nums = seen.numbers;
    let backwards = 0;
    for (let i = 1; i < nums.length; i++) if (nums[i] < nums[i - 1]) backwards++;
    const distinct = new Set(nums).size;
    const range = nums.length ? nums[nums.length - 1] - nums[0] + 1 : 0;
    const missing = range - distinct;
    // How many numbers each step skipped: {1: steps to the next frame, 2: one frame not seen, ...}.
    const steps = {};
    let widest = 0;
    for (let i = 1; i < nums.length; i++) {
      const d = nums[i] - nums[i - 1];
      steps[d] = (steps[d] || 0) + 1;
      widest = Math.max(widest, d);
    }
    say(`native-testsrc: ${nums.length} frames seen of ${seen.presented} presented, ${distinct} distinct numbers ${nums[0]}..${nums[nums.length - 1]}, ` +
      `${missing} missing, steps ${JSON.stringify(steps)}, ${seen.unreadable} unreadable; framesDecoded +${after.video.framesDecoded - before.video.framesDecoded}, ` +
      `packetsLost ${after.video.packetsLost}, NACKs ${after.video.nackCount}, PLIs ${after.video.pliCount}`);
    expect(distinct >= 100 && backwards === 0 && seen.unreadable <= 2,
      `${a.label} read the frame number of ${distinct} frames in 5 s, always growing (${backwards} backwards, ${seen.unreadable} unreadable)`);
    // Headless Chromium does not present every frame it decodes: a frame decoded within the same 16.7 ms
    // compositor tick as the one after it is replaced before it is shown (seen from 3 % to 13 % with every frame
    // decoded and packetsLost 0, mostly one frame at a time, even alone on the machine; two in a row when its two
    // cores are overloaded). The loss measure is framesDecoded below; what the numbers show is that the picture
    // never froze: never more than 100 ms (three frames) between two pictures presented.
    expect(range > 0 && widest <= 4 && missing / range < 0.25,
      `${a.label}: the picture never froze: at most three frame numbers in a row were not presented (widest step ${widest}, ${missing} of ${range} not presented, < 25 %)`);
    const mime = codec === 'h264' ? 'video/H264' : 'video/VP8';
    expect(after.video.mimeType === mime, `${a.label} decodes ${after.video.mimeType} (want ${mime})`);
    if (mode0) {
      expect(/packetization-mode=0/.test(after.video.fmtp || ''), `${a.label} decodes H.264 in packetization mode 0 (${after.video.fmtp})`);
    }
    const decoded = after.video.framesDecoded - before.video.framesDecoded;
    expect(decoded >= 135, `${a.label} decoded ${decoded} frames in ~5 s (duplex-peer sends 30/s: >= 135)`);
    expect(after.audio && after.audio.totalAudioEnergy > (before.audio ? before.audio.totalAudioEnergy : 0) + 0.01,
      `${a.label}: the tone's energy grows (${before.audio && before.audio.totalAudioEnergy} -> ${after.audio && after.audio.totalAudioEnergy})`);
    // The level duplex-peer put in the ssrc-audio-level extension (RFC 6464: 15 dB below full scale for its tone of
    // amplitude 0.25), which Chromium reports as the audio source's linear audioLevel (10^(-15/20) = 0.178).
    const sources = await a.evaluate((id) => {
      const r = window.duplexDemo.peer(id).pc.getReceivers().find((x) => x.track.kind === 'audio');
      return r ? r.getSynchronizationSources().map((s) => ({ source: s.source, audioLevel: s.audioLevel })) : null;
    }, n.peerId);
    const level = sources && sources.length ? sources[0].audioLevel : undefined;
    expect(typeof level === 'number' && Math.abs(level - 0.178) < 0.01,
      `${a.label}: the tone's audio source has the level duplex-peer sent, ~0.178 (${JSON.stringify(sources)})`);
    n.kill('SIGTERM');
    expect(await exitedWithin(n, 8000) === 0, `${n.label} exits 0 on SIGTERM`);
    expect(!!await nativeLine(n, 'err', new RegExp(`peer ${a.peerId}: video: sent [1-9]\\d* frames`), 0), `${n.label} reports the video frames it sent`);
  } finally {
    if (fails.length > failsBefore) dumpNative(procs, pages);
    killNatives();
    for (const p of pages) await p.close().catch(() => {});
  }
  return problems;
}

// native-record: a call between the page and duplex-peer, both ways, with the command the page shows under "Call a
// native peer" (`duplex-peer --signal … --room … --video testsrc --audio tone --record received`, its directory not
// there yet): duplex-peer records the page's fake camera and microphone while the page plays its test pattern.
// After 5 s of recording duplex-peer gets SIGTERM; its IVF must decode with libvpx without an error, its last
// picture at the size the page's camera went out at last (Chromium starts at 320x240 and grows with its bandwidth
// estimate, which duplex's transport-cc feedback feeds), and hold at least 90 % of the frames the page sent meanwhile, its Ogg Opus must decode
// (media_check), and the page must have decoded duplex-peer's video (640x480) all along.
// native-record-h264: the same with `--video-codec h264`: both directions in H.264 (the page answers duplex-peer's
// offer, which lists H.264 first), the camera recorded as Annex B and decoded by OpenH264 (media_check).
async function caseNativeRecord(origin, codec = 'vp8') {
  const problems = [];
  const failsBefore = fails.length;
  const procs = [], pages = [];
  const dir = fs.mkdtempSync(path.join(home.dir, 'native-record-'));
  const check = process.env.DUPLEX_MEDIA_CHECK;
  if (!check) { expect(false, 'DUPLEX_MEDIA_CHECK names media_check (the CMake test sets it)'); return problems; }
  try {
    const room = `native-record-${crypto.randomBytes(4).toString('hex')}`;
    const a = await openPage(origin, room, problems);
    pages.push(a);
    // The page's own "call a native peer" command, run as shown (the record directory made by duplex-peer), plus
    // what a test needs: an id, the loopback address, -v, a timeout, and the codec.
    const command = await a.textContent('#native-command');
    const want = `duplex-peer --signal ${origin.replace(/^http/, 'ws')}/signal --room ${room} --video testsrc --audio tone --record received`;
    expect(command === want, `${a.label} shows the command that calls a native peer into its room: '${command}'`);
    const recordDir = path.join(dir, 'received');
    await a.click('#start-camera', { timeout: 5000 });
    await waitFor(a, () => window.duplexDemo.localStream() && window.duplexDemo.localStream().getTracks().length, null, 10000);
    const n = startNative([...(command || want).split(' ').slice(1).map((w) => (w === 'received' ? recordDir : w)),
      '--id', 'duplex-peer-record', '--bind', '127.0.0.1', '-v', '--timeout', '45', '--video-codec', codec]);
    n.peerId = 'duplex-peer-record';
    procs.push(n);
    const [name, ext] = codec === 'h264' ? ['H264', 'h264'] : ['VP8', 'ivf'];
    const rec = await nativeLine(n, 'err', new RegExp(`peer ${a.peerId}: recording its video \\(${name}\\) to (\\S+\\.${ext})$`), 20000);
    expect(!!rec, `${n.label} records the page's video`);
    if (!rec) return problems;
    const sent = () => a.evaluate(async (id) => {
      let frames = 0;
      (await window.duplexDemo.peer(id).pc.getStats()).forEach((s) => { if (s.type === 'outbound-rtp' && s.kind === 'video') frames = s.framesSent; });
      return frames;
    }, n.peerId);
    // The size Chromium sends its camera at now (it starts small and grows with its bandwidth estimate).
    const sentSize = () => a.evaluate(async (id) => {
      let size = null;
      (await window.duplexDemo.peer(id).pc.getStats()).forEach((s) => {
        if (s.type === 'outbound-rtp' && s.kind === 'video') size = `${s.frameWidth}x${s.frameHeight}`;
      });
      return size;
    }, n.peerId);
    const decodedOf = () => a.evaluate(async (id) => {
      let frames = 0;
      (await window.duplexDemo.peer(id).pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded; });
      return frames;
    }, n.peerId);
    const first = await sent();
    const decodedBefore = await decodedOf();
    await sleep(5000);  // records for a while: 5 s of camera
    const last = await sent();
    const lastSize = await sentSize();
    const decodedAfter = await decodedOf();
    const shown = await a.evaluate((id) => {
      const v = document.querySelector(`#videos figure[data-peer="${id}"] video`);
      return v ? `${v.videoWidth}x${v.videoHeight}` : null;
    }, n.peerId);
    expect(shown === '640x480' && decodedAfter - decodedBefore >= 135,
      `${a.label} meanwhile decoded ${decodedAfter - decodedBefore} frames of duplex-peer's test pattern (${shown})`);
    n.kill('SIGTERM');
    expect(await exitedWithin(n, 8000) === 0, `${n.label} exits 0 on SIGTERM`);
    const done = await nativeLine(n, 'err', new RegExp(`recorded video to (\\S+): (\\d+) frames`), 0);
    const ivf = (n.log.find((l) => /recorded video to /.test(l)) || '').match(/recorded video to (\S+): (\d+) frames/);
    const ogg = (n.log.find((l) => /recorded audio to /.test(l)) || '').match(/recorded audio to (\S+): (\d+) frames/);
    expect(!!done && !!ivf && !!ogg, `${n.label} reports the video and audio it recorded`);
    if (!ivf || !ogg) return problems;
    const v = execFileSync(check, [ivf[1]], { encoding: 'utf8' }).trim();
    // DUPLEX_KEEP_RECORDINGS=DIR keeps a recording that fails to decode (to study it).
    if (process.env.DUPLEX_KEEP_RECORDINGS && !/ errors 0 /.test(v))
      fs.copyFileSync(ivf[1], path.join(process.env.DUPLEX_KEEP_RECORDINGS, `${Date.now()}-${path.basename(ivf[1])}`));
    // IVF: `video frames N decoded D ...`; Annex B: `video nals N decoded D ...` (a frame is what decodes).
    const m = v.match(/^video (?:frames|nals) (\d+) decoded (\d+) errors (\d+) size (\d+)x(\d+)/);
    if (m && codec === "h264") m[1] = m[2];
    const frames = m ? +m[1] : 0;
    say(`native-record: ${v}; the page sent ${last - first} frames in the last 5 s, ${last} in all`);
    // Every frame decodes (media_check names on stderr any that does not; DUPLEX_KEEP_RECORDINGS keeps the file).
    expect(m && +m[3] === 0 && `${m[4]}x${m[5]}` === lastSize,
      `${path.basename(ivf[1])} decodes with ${codec === 'h264' ? 'OpenH264' : 'libvpx'} without an error, ` +
      `its last picture at the size the page sent last, ${lastSize} (${v})`);
    expect(frames >= 0.9 * (last - first), `${path.basename(ivf[1])} holds ${frames} frames, >= 90 % of the ${last - first} the page sent while it recorded`);
    expect(frames === +ivf[2], `duplex-peer's count (${ivf[2]}) is the file's (${frames})`);
    const au = execFileSync(check, [ogg[1]], { encoding: 'utf8' }).trim();
    const am = au.match(/^audio packets (\d+) decoded (\d+) errors (\d+) rms ([\d.]+)/);
    expect(am && +am[1] >= 200 && +am[3] === 0 && +am[2] === +am[1],
      `${path.basename(ogg[1])}: Ogg Opus that decodes, at least 200 packets of 20 ms (${au})`);
    if (codec === 'h264') {
      // The recording played back: `duplex-peer --video FILE.h264` (Annex B, one access unit a frame at 30/s,
      // looped) into the page, which decodes it at the recorded size.
      const n2 = startNative(nativeArgs(origin, room, 'duplex-peer-replay', ['--video', ivf[1]]));
      n2.peerId = 'duplex-peer-replay';
      procs.push(n2);
      const replayed = async () => a.evaluate(async (id) => {
        const p = window.duplexDemo.peer(id);
        if (!p) return null;
        let r = null;
        const report = await p.pc.getStats();
        report.forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video') {
            r = { frames: s.framesDecoded || 0, size: `${s.frameWidth}x${s.frameHeight}`,
              mime: s.codecId && report.get(s.codecId) ? report.get(s.codecId).mimeType : null };
          }
        });
        return r;
      }, n2.peerId);
      let r0 = null;
      for (let i = 0; i < 100 && !(r0 && r0.frames > 0); i++) { r0 = await replayed(); if (!(r0 && r0.frames > 0)) await sleep(200); }
      await sleep(3000);
      const r1 = await replayed();
      expect(r0 && r1 && r1.frames - r0.frames >= 60 && r1.mime === 'video/H264' && r1.size === `${m[4]}x${m[5]}`,
        `${a.label} decodes the recording played back by duplex-peer --video ${path.basename(ivf[1])}: ` +
        `${r1 && r0 ? r1.frames - r0.frames : 0} frames in 3 s (>= 60), ${r1 && r1.mime}, ${r1 && r1.size} (recorded ${m && m[4]}x${m && m[5]})`);
    }
  } finally {
    if (fails.length > failsBefore) dumpNative(procs, pages);
    killNatives();
    for (const p of pages) await p.close().catch(() => {});
  }
  return problems;
}

async function caseNativeSend(origin) {
  const problems = [];
  const failsBefore = fails.length;
  const procs = [], pages = [];
  try {
    const room = `native-send-${crypto.randomBytes(4).toString('hex')}`;
    const a = await openPage(origin, room, problems);
    pages.push(a);
    const n = startNative(nativeArgs(origin, room, 'duplex-peer-send', ['--send', 'plain hello \u2713', '--label', 'chat',
      '--reply-timeout', '2']));
    procs.push(n);
    const shown = await waitFor(a, () => window.duplexDemo.chat.some((c) => c.from === 'duplex-peer-send' && c.text === 'plain hello \u2713' && !c.mine), null, 15000);
    expect(!!shown, `${a.label} shows duplex-peer's plain text in its chat`);
    const code = await exitedWithin(n, 15000);
    expect(code === 0, `${n.label} --send exits 0 by itself without a reply (${code})`);
    expect(!!await nativeLine(n, 'err', /no reply from \S+ within 2 s; the message was delivered$/, 0), `${n.label} says no reply came`);
  } finally {
    if (fails.length > failsBefore) dumpNative(procs, pages);
    killNatives();
    for (const p of pages) await p.close().catch(() => {});
  }
  return problems;
}

const sha256sum = (file) => execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0];

async function caseNativeFiles(origin) {
  const problems = [];
  const failsBefore = fails.length;
  const procs = [], pages = [];
  const SIZE = 5 * 1024 * 1024;
  const dir = fs.mkdtempSync(path.join(home.dir, 'native-files-'));
  try {
    // 1. page -> duplex-peer --receive-dir. duplex-peer joins first, so the page offers (with its 'chat' channel).
    const src = path.join(dir, 'src', 'random.bin');
    const recv = path.join(dir, 'recv');
    fs.mkdirSync(path.dirname(src));
    fs.mkdirSync(recv);
    fs.writeFileSync(src, crypto.randomBytes(SIZE));
    const ref = sha256sum(src);
    const room1 = `native-files-${crypto.randomBytes(4).toString('hex')}`;
    const n1 = startNative(nativeArgs(origin, room1, 'duplex-peer-rx', ['--receive-dir', recv]));
    n1.peerId = 'duplex-peer-rx';
    procs.push(n1);
    expect(!!await nativeLine(n1, 'err', /joined room /, 10000), `${n1.label} joined ${room1}`);
    const a = await openPage(origin, room1, problems);
    pages.push(a);
    const r1 = await nativeConnected(a, n1.peerId, 15000);
    if (!r1) return problems;
    {
      const t0 = Date.now();
      await a.setInputFiles('#file-input', src);
      const tr = await waitFor(a, () => window.duplexDemo.transfers.length > 0 && window.duplexDemo.transfers[0].status !== 'sending' &&
        window.duplexDemo.transfers[0], null, 30000);
      const ms = Date.now() - t0;
      expect(tr && tr.status === 'ok' && tr.to === n1.peerId && tr.name === 'random.bin' && tr.size === SIZE && tr.sent === SIZE && tr.sha256 === ref,
        `${a.label} -> ${n1.peerId}: random.bin sent and confirmed by file-ok in ${ms} ms (${JSON.stringify(tr)})`);
      const row = await a.textContent('#transfers li').catch(() => '');
      expect(row.includes(`→ ${n1.peerId}: random.bin`) && row.includes('delivered, checksum confirmed') && row.includes(`sha256 ${ref}`),
        `${a.label}'s transfer list shows it confirmed: '${row}'`);
      const line = await nativeLine(n1, 'out', /^received (\S+) (\d+) bytes sha256 ([0-9a-f]{64})$/, 5000);
      expect(line && line[1] === 'random.bin' && +line[2] === SIZE && line[3] === ref,
        `${n1.label} printed '${line && line[0]}' (sha256sum of the source: ${ref})`);
      const stored = path.join(recv, 'random.bin');
      const listing = fs.readdirSync(recv);
      const st = fs.statSync(stored, { throwIfNoEntry: false });
      expect(JSON.stringify(listing) === '["random.bin"]' && st && st.size === SIZE && sha256sum(stored) === ref,
        `${recv} holds only random.bin (${JSON.stringify(listing)}), ${st && st.size} bytes, sha256sum = the source's`);
    }
    await stopNative(n1, a);

    // 2. duplex-peer --send-file --label chat -> page. The page joins first, so duplex-peer offers.
    const src2 = path.join(dir, 'src', 'native-random.bin');
    fs.writeFileSync(src2, crypto.randomBytes(SIZE));
    const ref2 = sha256sum(src2);
    const room2 = `native-files-${crypto.randomBytes(4).toString('hex')}`;
    const b = await openPage(origin, room2, problems);
    pages.push(b);
    const t0 = Date.now();
    const n2 = startNative(nativeArgs(origin, room2, 'duplex-peer-tx', ['--send-file', src2, '--label', 'chat']));
    n2.peerId = 'duplex-peer-tx';
    procs.push(n2);
    const rec = await waitFor(b, () => window.duplexDemo.files.length > 0 && window.duplexDemo.files[0], null, 30000);
    expect(rec && rec.ok && rec.from === n2.peerId && rec.name === 'native-random.bin' && rec.size === SIZE && rec.sha256 === ref2 && rec.expected === ref2,
      `${b.label} received native-random.bin from ${n2.peerId} ${Date.now() - t0} ms after duplex-peer started: ${rec && rec.size} bytes, streaming SHA-256 = sha256sum's ${ref2} (${JSON.stringify(rec && { ...rec, url: undefined })})`);
    if (rec && rec.url) {
      const wc = await b.evaluate(async (url) => {
        const buf = await (await fetch(url)).arrayBuffer();
        const d = new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
        return { size: buf.byteLength, hex: Array.from(d, (x) => x.toString(16).padStart(2, '0')).join('') };
      }, rec.url);
      expect(wc.size === SIZE && wc.hex === ref2, `the Blob offered for download: ${wc.size} bytes, WebCrypto SHA-256 ${wc.hex}`);
      const link = await b.$eval('#transfers a[download]', (l) => ({ name: l.download, href: l.href, row: l.closest('li').textContent })).catch(() => null);
      expect(link && link.name === 'native-random.bin' && link.href === rec.url && link.row.includes(`← ${n2.peerId}: native-random.bin (5.0 MiB)`) &&
        link.row.includes(`sha256 ${ref2} (matches the sender's)`), `${b.label} offers the download with its size and SHA-256 (${JSON.stringify(link)})`);
    }
    const code = await exitedWithin(n2, 10000);
    expect(code === 0, `${n2.label} --send-file exits 0 by itself once confirmed (${code}), ${Date.now() - t0} ms after it started`);
    expect(!!await nativeLine(n2, 'err', new RegExp(`sent \\S+ \\(${SIZE} bytes\\) to \\S+, sha256 ${ref2} confirmed`), 0), `${n2.label} reports the transfer confirmed`);
    const bad = (p) => p.log.filter((l) => /refused|fail|error|midway/i.test(l));
    for (const p of procs) expect(bad(p).length === 0, `${p.label} logged no refusal or failure ${JSON.stringify(bad(p))}`);
  } finally {
    if (fails.length > failsBefore) dumpNative(procs, pages);
    killNatives();
    for (const p of pages) await p.close().catch(() => {});
  }
  return problems;
}

// native-glare: an offer collision between the page and duplex-peer, made to happen. The page joins first (impolite),
// `duplex-peer --echo --label chat --id duplex` second (polite); it offers at once. Its offer, and every message after
// it, is held on its way to the page (routeWebSocket). Start camera alone sends the page no offer towards duplex-peer:
// app.js adds tracks towards a peer that offers to it only once it has answered that peer's first offer (mayAddTracks),
// and makes no 'chat' channel for it. So, while duplex-peer's offer is held, the test hook makes the page start a
// negotiation of its own exactly as app.js does towards a peer it offers to (the Peer constructor's polite branch:
// mayAddTracks, addLocalTracks(), setupChat(createDataChannel('chat'))): its negotiationneeded handler sends an offer
// with audio, video and 'chat'. Both offers are then out, neither applied; duplex-peer rolls its own back and answers
// the page's; then the held messages reach the page, which ignores duplex-peer's offer and applies the answer.
async function caseNativeGlare(origin) {
  const problems = [];
  const failsBefore = fails.length;
  const procs = [], pages = [];
  const ID = 'duplex';
  const parse = (m) => { try { const j = JSON.parse(m); return j && typeof j === 'object' ? j : {}; } catch (e) { return {}; } };
  // The page's signaling as the route saw it: 'sent' (page -> server), 'received' (server -> route) and 'delivered'
  // (route -> page), { dir, type, peer, t }; candidates are kept too.
  const frames = [];
  const held = [];
  let holding = false, released = false, toPage = null;
  const hooks = {
    beforeGoto: (page) => page.routeWebSocket(/\/signal$/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((m) => {
        const j = parse(m);
        frames.push({ dir: 'sent', type: j.type, peer: j.to, t: Date.now() });
        server.send(m);
      });
      toPage = (m) => {
        const j = parse(m);
        frames.push({ dir: 'delivered', type: j.type, peer: j.from, t: Date.now() });
        ws.send(m);
      };
      server.onMessage((m) => {
        const j = parse(m);
        frames.push({ dir: 'received', type: j.type, peer: j.from, t: Date.now() });
        if (!released && j.type === 'offer' && j.from === ID) holding = true;
        if (holding) held.push(m); else toPage(m);
      });
    }),
  };
  const release = () => { released = true; holding = false; for (const m of held.splice(0)) toPage(m); };
  const fmt = (fs) => fs.filter((f) => f.type !== 'candidate').map((f) => `${f.dir} ${f.type}${f.peer ? ' ' + f.peer : ''} +${f.t - frames[0].t} ms`).join(', ');
  const first = (dir, type) => frames.findIndex((f) => f.dir === dir && f.type === type);
  try {
    const room = `native-glare-${crypto.randomBytes(4).toString('hex')}`;
    const a = await openPage(origin, room, problems, '', hooks);
    pages.push(a);
    expect(!!toPage, `${a.label}'s signaling WebSocket goes through the route`);
    const n = startNative(nativeArgs(origin, room, ID, ['--echo', '--label', 'chat']));
    n.peerId = ID;
    procs.push(n);
    for (let i = 0; i < 150 && !holding; i++) await sleep(100);
    expect(holding, `${ID} joined second and offered; its offer is held before the page (${fmt(frames)})`);
    if (!holding) return problems;
    const peer = await waitFor(a, (id) => { const p = window.duplexDemo.peer(id); return p && { polite: p.polite, signaling: p.pc.signalingState, chat: p.chat ? p.chat.label : null }; }, ID, 5000);
    expect(peer && !peer.polite && peer.signaling === 'stable' && !peer.chat,
      `${a.label} knows ${ID} from peer-joined: impolite (it joined first), stable, no channel of its own (${JSON.stringify(peer)})`);
    if (!peer) return problems;
    // As in the glare case: count ignoreOffer being set, and note the state each remote description is applied in.
    await a.evaluate((id) => {
      const x = window.duplexDemo.peer(id);
      let v = x.ignoreOffer;
      x.ignoredOffers = 0;
      Object.defineProperty(x, 'ignoreOffer', { configurable: true, get: () => v, set: (y) => { v = y; if (y) x.ignoredOffers++; } });
      x.states = [x.pc.signalingState];
      x.pc.addEventListener('signalingstatechange', () => x.states.push(x.pc.signalingState));
      x.applied = [];
      const srd = x.pc.setRemoteDescription;
      x.pc.setRemoteDescription = function (d, ...rest) {
        x.applied.push(`${d && d.type} in ${this.signalingState}${x.makingOffer ? ' (making an offer)' : ''}`);
        return srd.call(this, d, ...rest);
      };
    }, ID);

    // Start camera while duplex-peer's offer is held: the page gets its fake devices but offers nothing to duplex-peer.
    await a.click('#start-camera', { timeout: 5000 });
    const tracks = await waitFor(a, () => window.duplexDemo.localStream() && window.duplexDemo.localStream().getTracks().length, null, 10000);
    expect(tracks === 2, `${a.label}: Start camera gives a local stream with 2 tracks (${tracks})`);
    await sleep(1000);
    const alone = await a.evaluate((id) => ({ tx: window.duplexDemo.peer(id).pc.getTransceivers().length, signaling: window.duplexDemo.peer(id).pc.signalingState }), ID);
    expect(first('sent', 'offer') < 0 && alone.tx === 0 && alone.signaling === 'stable',
      `Start camera alone: ${a.label} adds no track towards ${ID} before answering its first offer (app.js mayAddTracks), so no offer yet (${JSON.stringify(alone)}; ${fmt(frames)})`);
    await a.evaluate((id) => {
      const p = window.duplexDemo.peer(id);
      p.mayAddTracks = true;
      p.addLocalTracks();
      p.setupChat(p.pc.createDataChannel('chat'));   // -> negotiationneeded -> the page's offer
    }, ID);
    for (let i = 0; i < 100 && first('sent', 'offer') < 0; i++) await sleep(100);
    const own = await a.evaluate((id) => { const pc = window.duplexDemo.peer(id).pc; return { signaling: pc.signalingState, sdp: pc.localDescription && pc.localDescription.sdp }; }, ID);
    const sentOffer = frames[first('sent', 'offer')];
    expect(sentOffer && sentOffer.peer === ID && own.signaling === 'have-local-offer' &&
      mlines(own.sdp).m.map((x) => x.kind).sort().join() === 'application,audio,video',
    `${a.label} sent its own offer to ${ID} (audio, video, application) while ${ID}'s is held: ${own.signaling} (${JSON.stringify(mlines(own.sdp).m)})`);
    const rolled = await nativeLine(n, 'err', new RegExp(`peer ${a.peerId}: offer collision, rolling back ours \\(we are polite\\)$`), 10000);
    expect(!!rolled, `${n.label} (polite) logs the collision with ${a.peerId} and rolls its own offer back`);
    for (let i = 0; i < 100 && first('received', 'answer') < 0; i++) await sleep(100);
    expect(first('received', 'answer') >= 0 && frames[first('received', 'answer')].peer === ID, `${n.label} answered the page's offer (held too, behind its own offer)`);
    // Before anything held reaches the page: both offers out, neither side had applied the other's.
    const before = await a.evaluate((id) => ({ applied: window.duplexDemo.peer(id).applied, signaling: window.duplexDemo.peer(id).pc.signalingState }), ID);
    const o1 = first('received', 'offer'), o2 = first('sent', 'offer'), d1 = first('delivered', 'offer');
    expect(o1 >= 0 && o2 > o1 && d1 < 0 && before.applied.length === 0 && before.signaling === 'have-local-offer',
      `glare: ${ID}'s offer reached the route before the page sent its own, and the page had applied nothing (${JSON.stringify(before)}; ${fmt(frames)})`);
    say(`releasing ${held.length} held message(s) (${held.map((m) => parse(m).type).join(', ')})`);
    release();

    const r = await nativeConnected(a, ID, 20000);
    const st = await a.evaluate((id) => { const x = window.duplexDemo.peer(id); return { ignored: x.ignoredOffers, applied: x.applied, states: x.states.join(' > ') }; }, ID);
    say(`frames: ${fmt(frames)}; ${a.label}: ignored ${st.ignored} offer(s), applied ${JSON.stringify(st.applied)}, states ${st.states}`);
    expect(st.ignored >= 1 && st.applied[0] === 'answer in have-local-offer' && !st.applied.some((x) => /^offer/.test(x)),
      `${a.label} (impolite) ignored ${ID}'s colliding offer and applied only ${ID}'s answer to its own (ignored ${st.ignored}, applied ${JSON.stringify(st.applied)})`);
    const offers = frames.filter((f) => f.type === 'offer');
    expect(offers.filter((f) => f.dir === 'sent').length === 1 && offers.filter((f) => f.dir === 'received').length === 1,
      `one offer each way, no renegotiation after the collision (${fmt(offers)})`);
    expect(!await nativeLine(n, 'err', /ignoring a colliding offer/, 0), `${n.label} did not ignore the page's offer`);
    if (!r) return problems;
    expect(!r.polite, `${a.label} is still the impolite side towards ${ID}`);
    checkRejectedMedia(a, await descriptions(a, ID), 'the colliding offer');
    expect(!!await nativeLine(n, 'err', new RegExp(`peer ${a.peerId}: channel 'chat' open$`), 5000), `${n.label} logs a 'chat' channel open with ${a.peerId}`);
    expect(!!await nativeLine(n, 'err', new RegExp(`peer ${a.peerId}: connected \\(`), 5000), `${n.label} logs connection connected`);
    await echoArrives(a, ID, `after the glare ${Date.now()}`);
    await echoArrives(a, ID, 'glare \u2713 \u{1f600}');
    const s = await a.evaluate(() => ({ banner: document.querySelector('#banner').hidden ? '' : document.querySelector('#banner').textContent,
      errors: window.duplexDemo.state.errors, media: document.querySelector('#media-status').textContent,
      peer: document.querySelector('#peers li') && document.querySelector('#peers li').textContent }));
    const warnings = a.consoleLog.filter((l) => /^(warning|error):/.test(l) && !/status of 404/.test(l));
    expect(!s.banner && s.errors.length === 0 && warnings.length === 0 && /^Sending audio \+ video/.test(s.media) && /joined after you/.test(s.peer || ''),
      `${a.label} shows ${ID} connected and no error: no banner '${s.banner}', signaling errors ${JSON.stringify(s.errors)}, console warnings ${JSON.stringify(warnings)}, media status '${s.media}', peer '${s.peer}'`);
    say(`${n.label} said: ${JSON.stringify(n.log.filter((l) => /collision|ignoring|channel|connection connected/.test(l)))}`);
    const bad = n.log.filter((l) => /refused|fail|error/i.test(l));
    expect(bad.length === 0, `${n.label} logged no refusal or failure ${JSON.stringify(bad)}`);
    await stopNative(n, a);
  } finally {
    if (fails.length > failsBefore) dumpNative(procs, pages);
    killNatives();
    for (const p of pages) await p.close().catch(() => {});
  }
  return problems;
}

(async () => {
  if (!SERVER || !fs.existsSync(SERVER)) return finish(2, USAGE);
  const ifs = Object.keys(os.networkInterfaces());
  if (ifs.some(n => n !== 'lo')) return finish(2, `FAIL refusing to run outside a loopback-only network namespace (interfaces: ${ifs}); use webrtc_demo_test.sh`);
  for (const c of CASES) if (!ALL_CASES.includes(c)) return finish(2, `unknown case ${c} (${ALL_CASES.join(', ')})\n${USAGE}`);
  if (NATIVE_RUNS && !PEER) return finish(2, `${CASES.filter(c => NATIVE_CASES.includes(c))} need duplex-peer's path\n${USAGE}`);
  if (PEER && !(fs.statSync(PEER, { throwIfNoEntry: false }) || { isFile: () => false }).isFile()) {
    return finish(2, `duplex-peer: '${PEER}' is not a file (and not a case name)\n${USAGE}`);
  }
  const { chromium, error } = loadChromium();
  if (error) return finish(1, `FAIL ${error}`);

  home = chromiumHome('duplex-webrtc-demo-', { processTmpdir: true });
  for (const [i, name] of CASES.entries()) {
    const t0 = Date.now();
    say(`--- case ${name}`);
    if (name === 'turn') await startTurn();
    const redisUrl = name === 'two-nodes' ? await startRedis() : null;
    const port = await startServer(name === 'turn' ? ['--turn', 'turn:127.0.0.1:3478?transport=udp', '--turn-secret', TURN_SECRET]
      : name === 'https' ? makeCert(path.join(home.dir, `cert-${i}`)) : name === 'token' ? ['--signal-secret', TOKEN_SECRET]
      : redisUrl ? ['--redis', redisUrl] : []);
    const origin = `${server.scheme}://127.0.0.1:${port}`;
    say(`duplex-server on ${origin}, --web ${WEB_DIR}`);
    let args = name === 'denied' ? FLAGS.map(f => f === '--use-fake-ui-for-media-stream' ? `${f}=deny` : f) : FLAGS;
    if (name === 'https') args = [...args, '--ignore-certificate-errors', `--host-resolver-rules=MAP ${HTTPS_NAME} 127.0.0.1`];
    ctx = await home.launch(chromium, { userData: `user-data-${name}-${i}`, args });
    // (the blank first page of the context stays open: closing a persistent context's last page ends it)
    const problems = await ({ pair: casePair, mesh: caseMesh, denied: caseDenied, turn: caseTurn,
      toggles: caseToggles, https: caseHttps, glare: caseGlare, defaults: caseDefaults, token: caseToken,
      'two-nodes': (o) => caseTwoNodes(o, redisUrl),
      'native-chat': caseNativeChat, 'native-files': caseNativeFiles, 'native-glare': caseNativeGlare,
      'native-send': caseNativeSend, 'native-media': caseNativeMedia, 'native-renegotiate': caseNativeRenegotiate,
      'native-testsrc': caseNativeTestsrc,
      'native-testsrc-h264': (o) => caseNativeTestsrc(o, 'h264'),
      'native-testsrc-h264-mode0': (o) => caseNativeTestsrc(o, 'h264', true), 'native-record': caseNativeRecord,
      'native-record-h264': (o) => caseNativeRecord(o, 'h264') })[name](origin);
    expect(problems.length === 0, `${name}: no page errors, console errors, failed or outside requests ${JSON.stringify(problems)}`);
    await closeBrowser();
    killServer();
    server = serverB = redis = null;
    killTurn();
    turn = null;
    say(`--- case ${name} took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  await finish(fails.length ? 1 : 0, fails.length ? `${fails.length} check(s) failed` : 'all checks passed');
})().catch(e => finish(1, `FAIL ${e && e.stack || e}`));
