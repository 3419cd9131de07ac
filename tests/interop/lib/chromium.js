'use strict';
// lib/chromium.js: headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) as the interop tests
// launch it: chromium_test.js, tls_chromium_client.js, webrtc_demo_test.js and rtc/chromium_peer.js.
//
//   const { FLAGS, WEBRTC_FLAGS, CHROMIUM, loadChromium, chromiumHome, armWatchdog, onSignals } = require('./lib/chromium');
//   const { chromium, error } = loadChromium();                 // error: why it cannot run (no FAIL prefix)
//   const home = chromiumHome('duplex-x-', { processTmpdir: true });   // fresh TMPDIR, before anything can hang
//   const ctx = await home.launch(chromium, { extraArgs: ['--ignore-certificate-errors'] });
//   ...
//   await home.close();   // ctx.close(), bounded (10 s by default), then SIGKILL to Chromium's process groups
//   home.remove();        // SIGKILL to what is left, and the directory removed (synchronous: fit for 'exit')
//
// Why each piece (/work/shared/peers/README.md, "Gotchas"):
// - Playwright starts Chromium in a process group of its own, so a signal to the Node driver does not reach it:
//   the context is closed through Playwright, and then every process group whose command line has our
//   --user-data-dir (always inside home.dir) is killed, also from a watchdog, a signal handler or the 'exit' hook.
// - Chromium leaves /tmp/org.chromium.Chromium.* SingletonSocket directories behind: its TMPDIR is home.dir (and
//   with processTmpdir so is the driver's, and that of whatever the test spawns), removed at the end.
// - Chromium keeps only the LAST --disable-features and Playwright adds its own: none in these lists.
const fs = require('fs');
const os = require('os');
const path = require('path');

const INTEROP_DIR = path.resolve(__dirname, '..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// The flags every test passes.
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
// WebRTC over loopback: without these Chromium gathers no 127.0.0.1 candidate, or hides it behind mDNS.
const WEBRTC_FLAGS = ['--allow-loopback-in-peer-connection', '--use-fake-ui-for-media-stream'];

// playwright-core's chromium and the browser binary: { chromium } or { error }.
function loadChromium() {
  let chromium;
  try { ({ chromium } = require('playwright-core')); } catch (e) {
    return { error: `playwright-core missing: run 'npm ci --prefix ${INTEROP_DIR}' first` };
  }
  if (!fs.existsSync(CHROMIUM)) return { error: `no browser at ${CHROMIUM}: apt-get install chromium` };
  return { chromium };
}

// A fresh directory in os.tmpdir() named PREFIX...: Chromium's TMPDIR and the parent of its user-data-dirs.
function chromiumHome(prefix, { processTmpdir = false } = {}) {
  const home = {
    dir: fs.mkdtempSync(path.join(os.tmpdir(), prefix)),
    context: null,   // the context of the last launch, until close()

    // Launches a persistent context on a new user-data-dir home.dir/USERDATA with `args` (default FLAGS) plus
    // `extraArgs`; the signal handlers stay ours (they close it, then exit).
    async launch(chromium, { userData = 'user-data', args = FLAGS, extraArgs = [] } = {}) {
      const udd = path.join(home.dir, userData);   // inside home.dir: groups() relies on it
      fs.mkdirSync(udd);
      home.context = await chromium.launchPersistentContext(udd, {
        executablePath: CHROMIUM, headless: true, args: [...args, ...extraArgs],
        handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false,
        env: { ...process.env, TMPDIR: home.dir },   // Chromium's /tmp droppings go in here
      });
      return home.context;
    },

    // Chromium's process groups, found by our user-data-dir on their command lines (a persistent context gives no
    // handle on the browser process); never our own group.
    groups() {
      if (!home.dir) return [];
      const mine = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[2];
      const groups = new Set();
      for (const pid of fs.readdirSync('/proc').filter(d => /^\d+$/.test(d))) {
        try {
          if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`--user-data-dir=${home.dir}/`)) continue;
          const pgid = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[2];
          if (pgid !== mine && pgid !== '0') groups.add(+pgid);
        } catch (e) { /* exited meanwhile */ }
      }
      return [...groups];
    },
    kill() {
      for (const g of home.groups()) { try { process.kill(-g, 'SIGKILL'); } catch (e) { /* gone */ } }
    },

    // Closes the context (ctx.close() can hang if Chromium is wedged: at most timeoutMs), then kills its groups.
    async close(timeoutMs = 10000) {
      if (home.context) {
        const c = home.context;
        home.context = null;
        await Promise.race([c.close().catch(() => {}), new Promise(r => setTimeout(r, timeoutMs))]);
      }
      home.kill();
    },

    // Kills what is left and removes the directory (idempotent).
    remove() {
      if (!home.dir) return;
      home.kill();
      try { fs.rmSync(home.dir, { recursive: true, force: true }); } catch (e) { /* best effort */ }
      home.dir = null;
    },
  };
  if (processTmpdir) process.env.TMPDIR = home.dir;   // Playwright's own temp files, and what the test spawns
  return home;
}

// finish(3, 'FAIL watchdog: ...') after ms unless done by then (the timer does not keep the process alive).
function armWatchdog(ms, finish) {
  setTimeout(() => finish(3, `FAIL watchdog: not done after ${ms / 1000} s`), ms).unref();
}

// handler(SIG, 128 + its number) on SIGINT, SIGTERM and SIGHUP.
function onSignals(handler) {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => handler(sig, 128 + os.constants.signals[sig]));
}

module.exports = { INTEROP_DIR, CHROMIUM, FLAGS, WEBRTC_FLAGS, loadChromium, chromiumHome, armWatchdog, onSignals };
