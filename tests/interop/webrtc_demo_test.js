// The WebRTC demo (web/index.html, app.js, duplex-signal.js, sha256.js) in real Chromium pages, signaled by
// duplex-server's /signal. Run it through webrtc_demo_test.sh, which puts it (and so duplex-server and
// Chromium) in a loopback-only network namespace; this script refuses to run where any other interface exists.
//
//   tests/interop/webrtc_demo_test.sh PATH/duplex-server [pair] [mesh] [denied] [turn]   (all by default; watchdog
//   60 s for the whole run, WATCHDOG_MS= to change)
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
//
// Cleanup on every path (pass, fail, watchdog, signal): duplex-server (and coturn) run in a process group of
// their own, which is killed; Chromium (its own process group, started by Playwright) is closed through its context
// and then its groups are killed, found by our user-data-dir; TMPDIR is a fresh directory, removed.
const { spawn } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');

const SERVER = process.argv[2] || process.env.DUPLEX_SERVER;
const ALL_CASES = ['pair', 'mesh', 'denied', 'turn'];
const CASES = process.argv.slice(3).length ? process.argv.slice(3) : ALL_CASES;
const WATCHDOG_MS = +(process.env.WATCHDOG_MS || 60000);
const WEB_DIR = path.resolve(__dirname, '..', '..', 'web');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TURNSERVER = process.env.TURNSERVER || 'turnserver';
const TURN_SECRET = crypto.randomBytes(12).toString('hex');
// One --disable-features at most: Chromium keeps only the last one, and Playwright adds its own.
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--allow-loopback-in-peer-connection', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  '--autoplay-policy=no-user-gesture-required'];

const say = (...a) => console.log('[webrtc_demo_test]', ...a);
let server = null;
let turn = null;
let turnLog = '';
let ctx = null;
let tmp = null;
let finishing = false;
const fails = [];
const expect = (ok, what) => { say(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) fails.push(what); return ok; };

function killServer() {
  if (server && server.exitCode === null && server.signalCode === null) {
    try { process.kill(-server.pid, 'SIGKILL'); } catch (e) { /* already gone */ }
  }
}
function killTurn() {
  if (turn && turn.exitCode === null && turn.signalCode === null) {
    try { process.kill(-turn.pid, 'SIGKILL'); } catch (e) { /* already gone */ }
  }
}
function removeTmp() {
  if (tmp) { try { fs.rmSync(tmp, { recursive: true, force: true }); } catch (e) { /* best effort */ } tmp = null; }
}
function chromiumGroups() {
  if (!tmp) return [];
  const mine = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[2];
  const groups = new Set();
  for (const pid of fs.readdirSync('/proc').filter(d => /^\d+$/.test(d))) {
    try {
      if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`--user-data-dir=${tmp}/`)) continue;
      const pgid = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[2];
      if (pgid !== mine && pgid !== '0') groups.add(+pgid);
    } catch (e) { /* exited meanwhile */ }
  }
  return [...groups];
}
function killChromium() {
  for (const g of chromiumGroups()) { try { process.kill(-g, 'SIGKILL'); } catch (e) { /* gone */ } }
}
async function closeBrowser() {
  if (!ctx) return;
  const c = ctx; ctx = null;
  await Promise.race([c.close().catch(() => {}), new Promise(r => setTimeout(r, 10000))]);
  killChromium();
}
async function finish(code, why) {
  if (finishing) return;
  finishing = true;
  if (why) say(why);
  await closeBrowser();
  killServer();
  killTurn();
  removeTmp();
  say(code === 0 ? 'PASS' : 'FAIL');
  process.exit(code);
}
setTimeout(() => finish(3, `FAIL watchdog: not done after ${WATCHDOG_MS / 1000} s`), WATCHDOG_MS).unref();
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => finish(128 + os.constants.signals[sig], `FAIL got ${sig}`));
process.on('exit', () => { killChromium(); killServer(); killTurn(); removeTmp(); });

function startServer(extra = []) {
  return new Promise((resolve, reject) => {
    const proc = spawn(SERVER, ['--host', '127.0.0.1', '--port', '0', '--web', WEB_DIR, ...extra],
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    server = proc;
    proc.stderr.on('data', d => process.stderr.write('[duplex-server] ' + d));
    readline.createInterface({ input: proc.stdout }).on('line', line => {
      const m = /^listening on http:\/\/127\.0\.0\.1:(\d+)$/.exec(line);
      if (m) resolve(+m[1]); else say('[duplex-server]', line);
    });
    proc.on('error', reject);
    proc.on('exit', c => reject(new Error(`duplex-server exited (${c}) before listening`)));
    setTimeout(() => reject(new Error('duplex-server printed no listening line in 15 s')), 15000).unref();
  });
}

// coturn with coturn's REST credentials (use-auth-secret), loopback only; resolves once its UDP listener is open.
function startTurn() {
  return new Promise((resolve, reject) => {
    turnLog = '';
    const proc = spawn(TURNSERVER, ['-n', '-v', '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', '--listening-port=3478',
      '--min-port=49152', '--max-port=49252', '--use-auth-secret', `--static-auth-secret=${TURN_SECRET}`, '--realm=duplex',
      '--allow-loopback-peers', '--no-tls', '--no-dtls', '--no-cli', '--no-multicast-peers', '--fingerprint',
      '--log-file=stdout', '--simple-log', `--pidfile=${tmp}/turnserver.pid`, `--userdb=${tmp}/turndb`],
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
async function openPage(origin, room, problems, query = '') {
  const page = await ctx.newPage();
  const name = `page${++pageNo}`;
  page.on('pageerror', e => problems.push(`${name}: page error: ${e.message}`));
  const isFavicon = (u) => { try { return new URL(u).pathname === '/favicon.ico'; } catch (e) { return false; } };
  page.on('console', m => {
    if (m.type() !== 'error') return;
    if (/status of 404/.test(m.text()) && m.location() && isFavicon(m.location().url || '')) return;
    problems.push(`${name}: console error: ${m.text()}`);
  });
  page.on('response', r => { if (r.status() >= 400 && !isFavicon(r.url())) problems.push(`${name}: HTTP ${r.status()} ${r.url()}`); });
  page.on('requestfailed', r => problems.push(`${name}: request failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
  page.on('request', r => { if (!r.url().startsWith(origin) && !/^(data|blob):/.test(r.url())) problems.push(`${name}: request outside the server: ${r.url()}`); });
  const resp = await page.goto(`${origin}/?room=${room}${query}`, { waitUntil: 'load', timeout: 15000 });
  expect(resp && resp.status() === 200, `${name}: GET /?room=${room}${query} -> ${resp && resp.status()}`);
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
  const sa = await a.evaluate((id) => window.duplexDemo.stats(id), b.peerId);
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
  const cams = await Promise.all([a, b].map(p => p.click('#start-camera', { timeout: 5000 })
    .then(() => waitFor(p, () => window.duplexDemo.localStream() && window.duplexDemo.localStream().getTracks().length, null, 10000))));
  expect(cams.every(n => n === 2), `both pages have a local stream with 2 tracks (${cams})`);
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
  for (const [i, p] of [a, b].entries()) {
    const x = m1[i], y = m2[i];
    expect(x.video && y.video && y.video.framesDecoded > x.video.framesDecoded && x.video.framesDecoded > 0,
      `${p.label}: inbound video framesDecoded grows ${x.video && x.video.framesDecoded} -> ${y.video && y.video.framesDecoded} (${y.video && y.video.frameWidth}x${y.video && y.video.frameHeight})`);
    expect(x.audio && y.audio && y.audio.packetsReceived > x.audio.packetsReceived,
      `${p.label}: inbound audio packetsReceived grows ${x.audio && x.audio.packetsReceived} -> ${y.audio && y.audio.packetsReceived}`);
    const vw = await p.$eval(`#videos figure[data-peer] video`, v => v.videoWidth).catch(() => 0);
    expect(vw > 0, `${p.label}: the remote <video> plays (videoWidth ${vw})`);
  }
  // Chat still fine after renegotiation.
  await chatArrives(a, b, 'after the camera', false);
  await a.close(); await b.close();
  return problems;
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

(async () => {
  if (!SERVER || !fs.existsSync(SERVER)) return finish(2, 'usage: webrtc_demo_test.sh PATH/duplex-server [pair] [mesh] [denied] [turn]');
  const ifs = Object.keys(os.networkInterfaces());
  if (ifs.some(n => n !== 'lo')) return finish(2, `FAIL refusing to run outside a loopback-only network namespace (interfaces: ${ifs}); use webrtc_demo_test.sh`);
  for (const c of CASES) if (!ALL_CASES.includes(c)) return finish(2, `unknown case ${c} (${ALL_CASES.join(', ')})`);
  let chromium;
  try { ({ chromium } = require('playwright-core')); } catch (e) {
    return finish(1, `FAIL playwright-core missing: run 'npm ci --prefix ${__dirname}' first`);
  }
  if (!fs.existsSync(CHROMIUM)) return finish(1, `FAIL no browser at ${CHROMIUM}: apt-get install chromium`);

  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'duplex-webrtc-demo-'));
  process.env.TMPDIR = tmp;
  for (const name of CASES) {
    const t0 = Date.now();
    say(`--- case ${name}`);
    const udd = path.join(tmp, `user-data-${name}`);
    fs.mkdirSync(udd);
    if (name === 'turn') await startTurn();
    const port = await startServer(name === 'turn'
      ? ['--turn', 'turn:127.0.0.1:3478?transport=udp', '--turn-secret', TURN_SECRET] : []);
    const origin = `http://127.0.0.1:${port}`;
    say(`duplex-server on 127.0.0.1:${port}, --web ${WEB_DIR}`);
    const args = name === 'denied' ? FLAGS.map(f => f === '--use-fake-ui-for-media-stream' ? `${f}=deny` : f) : FLAGS;
    ctx = await chromium.launchPersistentContext(udd, {
      executablePath: CHROMIUM, headless: true, args,
      handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false,
      env: { ...process.env, TMPDIR: tmp },
    });
    // (the blank first page of the context stays open: closing a persistent context's last page ends it)
    const problems = await ({ pair: casePair, mesh: caseMesh, denied: caseDenied, turn: caseTurn })[name](origin);
    expect(problems.length === 0, `${name}: no page errors, console errors, failed or outside requests ${JSON.stringify(problems)}`);
    await closeBrowser();
    killServer();
    server = null;
    killTurn();
    turn = null;
    say(`--- case ${name} took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  await finish(fails.length ? 1 : 0, fails.length ? `${fails.length} check(s) failed` : 'all checks passed');
})().catch(e => finish(1, `FAIL ${e && e.stack || e}`));
