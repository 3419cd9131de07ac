// The duplex WebRTC demo: a room on duplex-server's /signal (docs/signaling.md),
// a full mesh of RTCPeerConnections, a "chat" data channel per peer, file
// transfer on a data channel per file (docs/file-transfer.md), camera and mic.
//
// Negotiation: the joiner offers to every peer already in the room (its "chat"
// channel triggers the first negotiation), the others answer. After that
// either side may renegotiate (tracks added by "Start camera"), with perfect
// negotiation: towards each peer, the later joiner of the two is polite.
//
// Test hook: window.duplexDemo (state, peers(), chat, files, transfers,
// sendChat(), sendFile(), startCamera(), stats()).
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const CHUNK = 64 * 1024;              // file chunk size (the most the protocol allows)
  const HIGH_WATER = 1024 * 1024;       // pause sending above this bufferedAmount …
  const LOW_WATER = 256 * 1024;         // … and resume at bufferedamountlow (this threshold)
  const MAX_RECEIVE = 2 * 1024 * 1024 * 1024;  // received files are held in memory
  const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;

  // ---- room from the URL ----------------------------------------------------------------------
  const params = new URLSearchParams(location.search);
  let room = params.get('room') || decodeURIComponent(location.hash.slice(1));
  const wantedId = params.get('id') || undefined;
  // ?token=: a join token, for a server started with --signal-secret (`duplex-server token --room R
  // --secret S` prints one). It stays in the share link: whoever has the link may join.
  const token = params.get('token') || undefined;
  // A bare visit joins the room "demo": two tabs opened at the same address meet there.
  const DEFAULT_ROOM = 'demo';
  // ?relay=1: every RTCPeerConnection uses iceTransportPolicy 'relay' (TURN only; for testing the TURN
  // credentials from joined.iceServers).
  const relayOnly = params.get('relay') === '1';
  let roomNote = '';
  if (room && !NAME_RE.test(room)) { roomNote = `"${room}" is not a valid room name (1–64 of A-Z a-z 0-9 _ . -); `; room = ''; }
  if (!room) {
    room = DEFAULT_ROOM;
    if (roomNote) roomNote += `using ${room} instead.`;
  }
  const shareUrl = `${location.origin}${location.pathname}?room=${encodeURIComponent(room)}` +
    (token ? `&token=${encodeURIComponent(token)}` : '');
  if (params.get('room') !== room || location.hash) {
    const keep = new URLSearchParams(location.search);
    keep.set('room', room);
    history.replaceState(null, '', `${location.pathname}?${keep}`);
  }
  $('room').textContent = room;
  $('share-link').value = shareUrl;
  // The command that brings duplex-peer (a native peer) into this call (docs/webrtc.md).
  const shellWord = (w) => (/^[A-Za-z0-9_./:=@%+-]+$/.test(w) ? w : `'${w.replace(/'/g, "'\\''")}'`);
  const nativeCommand = ['duplex-peer', '--signal', `${location.origin.replace(/^http/, 'ws')}/signal`, '--room', room,
    ...(token ? ['--token', token] : []), '--video', 'testsrc', '--audio', 'tone', '--record', 'received']
    .map(shellWord).join(' ');
  $('native-command').textContent = nativeCommand;
  $('copy-native').addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(nativeCommand); $('copy-native').textContent = 'Copied'; }
    catch (e) { $('copy-native').textContent = 'Select and copy'; }
    setTimeout(() => { $('copy-native').textContent = 'Copy'; }, 2000);
  });
  $('copy-link').addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(shareUrl); $('copy-link').textContent = 'Copied'; }
    catch (e) { $('share-link').select(); $('copy-link').textContent = 'Press Ctrl+C'; }
    setTimeout(() => { $('copy-link').textContent = 'Copy'; }, 2000);
  });

  // ---- state ------------------------------------------------------------------------------------
  const state = { room, id: null, signal: 'connecting', iceServers: [], errors: [], banner: '' };
  const peers = new Map();     // id → Peer
  const chat = [];             // { from, text, mine, time }
  const files = [];            // received: { from, name, size, sha256, ok, error, url }
  const transfers = [];        // sent: { to, name, size, sha256, sent, status, error }
  let localStream = null;
  let fileSeq = 0;

  const showBanner = (text) => {
    state.banner = text;
    $('banner').textContent = text;
    $('banner').hidden = !text;
  };
  if (roomNote) showBanner(roomNote);
  const setSignalStatus = (text, cls) => {
    state.signal = text;
    $('signal-status').textContent = text;
    $('signal-status').className = 'status ' + (cls || '');
  };
  const fmtSize = (n) => n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB`
    : n < 1073741824 ? `${(n / 1048576).toFixed(1)} MiB` : `${(n / 1073741824).toFixed(2)} GiB`;
  const el = (tag, props = {}, ...kids) => {
    const e = document.createElement(tag);
    Object.assign(e, props);
    for (const k of kids) e.append(k);
    return e;
  };

  const addChatLine = (from, text, kind) => {
    const entry = { from, text, mine: kind === 'mine', system: kind === 'system', time: Date.now() };
    chat.push(entry);
    const li = el('li', { className: kind || '' });
    if (kind !== 'system') li.append(el('span', { className: 'from', textContent: from === state.id ? `${from} (you)` : from }));
    li.append(text);
    $('chat-log').append(li);
    $('chat-log').scrollTop = $('chat-log').scrollHeight;
  };

  // ---- signaling --------------------------------------------------------------------------------
  const signal = new DuplexSignal();
  const trySend = (fn) => { try { fn(); return true; } catch (e) { return false; } };

  signal.on('joined', (m) => {
    state.id = m.id;
    state.iceServers = m.iceServers;
    $('my-id').textContent = m.id;
    setSignalStatus(`joined ${m.room}`, 'open');
    // We are the joiner: offer to everyone already here (we are the polite one towards each of them).
    for (const id of m.peers) getPeer(id, true);
  });
  signal.on('peer-joined', (m) => { getPeer(m.id, false); addChatLine('', `${m.id} joined`, 'system'); });
  signal.on('peer-left', (m) => {
    const p = peers.get(m.id);
    if (p) p.close();
    addChatLine('', `${m.id} left`, 'system');
  });
  for (const type of ['offer', 'answer', 'candidate']) {
    signal.on(type, (m) => {
      if (typeof m.from !== 'string' || m.from === state.id) return;
      getPeer(m.from, false).onSignal(m);
    });
  }
  signal.on('error', (m) => {
    state.errors.push(m);
    console.warn('signaling error', m);
    if (m.code !== 'unknown-peer') showBanner(`Signaling server refused a request: ${m.code} (${m.message}).`);
  });
  signal.on('close', (c) => {
    setSignalStatus(`closed (${c.code}${c.reason ? ' ' + c.reason : ''})`, 'closed');
    showBanner(`The signaling connection closed (code ${c.code}${c.reason ? ', ' + c.reason : ''}). ` +
      'Peers already connected keep working, but nobody new can join and lost peers cannot reconnect. ' +
      'Reload the page to rejoin.');
  });

  (async () => {
    try {
      await signal.connect(DuplexSignal.defaultUrl());
      setSignalStatus('connected, joining…');
      await signal.join(room, { id: wantedId, token });
    } catch (e) {
      if (signal.open) {
        setSignalStatus('join refused', 'closed');
        if (e.code === 'unauthorized') {
          showBanner(`This server needs a join token for room ${room}: open ${shareUrl.split('&token=')[0]}&token=TOKEN ` +
            `(\`duplex-server token --room ${room} --secret SECRET\` prints one)` + (token ? '; the one given was refused.' : '.'));
        } else {
          showBanner(`Could not join room ${room}: ${e.message}`);
        }
      } else {
        setSignalStatus('unreachable', 'closed');
        showBanner(`Could not reach the signaling server at ${DuplexSignal.defaultUrl()}: ${e.message}. Reload to retry.`);
      }
    }
  })();

  // ---- peers ------------------------------------------------------------------------------------
  function getPeer(id, polite) {
    let p = peers.get(id);
    if (!p) { p = new Peer(id, polite); peers.set(id, p); renderPeerCount(); }
    return p;
  }
  function renderPeerCount() {
    $('peer-count').textContent = String(peers.size);
    $('no-peers').hidden = peers.size > 0;
  }

  class Peer {
    constructor(id, polite) {
      this.id = id;
      this.polite = polite;            // we joined after them
      this.makingOffer = false;
      this.ignoreOffer = false;
      this.queue = Promise.resolve();  // signaling messages, handled one at a time
      this.closed = false;
      this.chat = null;
      this.senders = new Map();        // local track → RTCRtpSender
      // The answering side adds its tracks only once the joiner's first offer is answered.
      this.mayAddTracks = polite;
      this.remoteStream = new MediaStream();
      this.video = null;
      this.info = { ice: 'new', connection: 'new', dtls: 'new', local: '', remote: '', chat: 'none' };
      this.pc = new RTCPeerConnection({ iceServers: state.iceServers, ...(relayOnly ? { iceTransportPolicy: 'relay' } : {}) });
      const pc = this.pc;

      pc.onicecandidate = (e) => trySend(() => signal.sendCandidate(id, e.candidate));
      pc.onnegotiationneeded = async () => {
        try {
          this.makingOffer = true;
          await pc.setLocalDescription();
          trySend(() => signal.sendDescription(id, pc.localDescription));
        } catch (e) {
          console.warn(`negotiation with ${id} failed`, e);
        } finally {
          this.makingOffer = false;
        }
      };
      pc.oniceconnectionstatechange = () => { this.info.ice = pc.iceConnectionState; this.render(); };
      pc.onconnectionstatechange = () => {
        this.info.connection = pc.connectionState;
        if (pc.connectionState === 'failed') pc.restartIce();
        this.render();
        this.stats().catch(() => {});   // DTLS state and path, without waiting for the next poll
      };
      pc.ontrack = (e) => {
        this.remoteStream.addTrack(e.track);
        e.track.onended = () => this.remoteStream.removeTrack(e.track);
        this.showVideo();
      };
      pc.ondatachannel = (e) => {
        const dc = e.channel;
        if (dc.label === 'chat') this.setupChat(dc);
        else if (dc.label.startsWith('file')) receiveFile(this, dc);
        else dc.close();
      };

      this.li = el('li');
      $('peers').append(this.li);
      this.render();

      if (polite) {
        this.addLocalTracks();
        this.setupChat(pc.createDataChannel('chat'));   // → negotiationneeded → our offer
      }
    }

    setupChat(dc) {
      this.chat = dc;
      const upd = () => { this.info.chat = dc.readyState; this.render(); };
      dc.onopen = upd;
      dc.onclose = upd;
      dc.onmessage = (e) => {
        // {"type":"chat","text":…} from this page; any other text (a native
        // peer's `duplex-peer --send TEXT --label chat`) is shown as it is,
        // and binary as its size.
        if (typeof e.data !== 'string') {
          const n = e.data.byteLength !== undefined ? e.data.byteLength : e.data.size;
          addChatLine(this.id, `[binary message, ${n} bytes]`, 'theirs');
          return;
        }
        let m = null;
        try { m = JSON.parse(e.data); } catch (err) { /* plain text */ }
        if (m && m.type === 'chat' && typeof m.text === 'string') addChatLine(this.id, m.text, 'theirs');
        else addChatLine(this.id, e.data, 'theirs');
      };
      upd();
    }

    addLocalTracks() {
      if (!localStream || !this.mayAddTracks || this.closed) return;
      for (const t of localStream.getTracks()) {
        if (!this.senders.has(t)) this.senders.set(t, this.pc.addTrack(t, localStream));
      }
    }

    onSignal(m) {
      this.queue = this.queue.then(() => this.handleSignal(m)).catch((e) => console.warn(`signal from ${this.id}`, e));
    }

    async handleSignal(m) {
      if (this.closed) return;
      const pc = this.pc;
      if (m.type === 'offer' || m.type === 'answer') {
        const collision = m.type === 'offer' && (this.makingOffer || pc.signalingState !== 'stable');
        this.ignoreOffer = !this.polite && collision;
        if (this.ignoreOffer) return;
        await pc.setRemoteDescription({ type: m.type, sdp: m.sdp });   // rolls back our offer if polite
        if (m.type === 'offer') {
          await pc.setLocalDescription();
          trySend(() => signal.sendDescription(this.id, pc.localDescription));
          if (!this.mayAddTracks) { this.mayAddTracks = true; this.addLocalTracks(); }
        }
      } else if (m.type === 'candidate') {
        const init = { candidate: m.candidate || '' };
        if (m.sdpMid !== undefined) init.sdpMid = m.sdpMid;
        if (m.sdpMLineIndex !== undefined) init.sdpMLineIndex = m.sdpMLineIndex;
        if (init.sdpMid === undefined && init.sdpMLineIndex === undefined) init.sdpMLineIndex = 0;
        try {
          await pc.addIceCandidate(init);
        } catch (e) {
          if (!this.ignoreOffer && init.candidate) throw e;   // end-of-candidates may be refused harmlessly
        }
      }
    }

    sendChat(text) {
      if (!this.chat || this.chat.readyState !== 'open') return false;
      this.chat.send(JSON.stringify({ type: 'chat', text }));
      return true;
    }

    showVideo() {
      if (this.video) return;
      const v = el('video', { autoplay: true, playsInline: true });
      v.srcObject = this.remoteStream;
      const fig = el('figure', {}, v, el('figcaption', { textContent: this.id }));
      fig.dataset.peer = this.id;
      $('videos').append(fig);
      this.video = fig;
      // Autoplay with sound can be refused before the user interacted with the page: start muted then.
      v.play().catch(() => {
        v.muted = true;
        v.play().catch(() => {});
        const b = el('button', { className: 'unmute', type: 'button', textContent: 'Unmute' });
        b.onclick = () => { v.muted = false; v.play().catch(() => {}); b.remove(); };
        fig.append(b);
      });
    }

    // Connection details from getStats(): DTLS state and the selected candidate pair.
    async stats() {
      const out = {
        id: this.id, ice: this.pc.iceConnectionState, connection: this.pc.connectionState,
        signaling: this.pc.signalingState, chat: this.chat ? this.chat.readyState : 'none',
        dtls: null, tlsVersion: null, local: null, remote: null, inbound: {}, outbound: {},
      };
      if (this.closed) return out;
      const report = await this.pc.getStats();
      let transport = null;
      report.forEach((s) => { if (s.type === 'transport' && !transport) transport = s; });
      let pair = transport && transport.selectedCandidatePairId ? report.get(transport.selectedCandidatePairId) : null;
      if (!pair) report.forEach((s) => { if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });
      if (transport) { out.dtls = transport.dtlsState || null; out.tlsVersion = transport.tlsVersion || null; }
      if (!out.dtls && this.pc.sctp) out.dtls = this.pc.sctp.transport.state;
      if (pair) {
        const lc = report.get(pair.localCandidateId), rc = report.get(pair.remoteCandidateId);
        if (lc) out.local = { type: lc.candidateType, protocol: lc.protocol, address: lc.address, port: lc.port };
        if (rc) out.remote = { type: rc.candidateType, protocol: rc.protocol, address: rc.address, port: rc.port };
      }
      report.forEach((s) => {
        if (s.type === 'inbound-rtp' && (s.kind === 'video' || s.kind === 'audio')) {
          out.inbound[s.kind] = { packetsReceived: s.packetsReceived || 0, bytesReceived: s.bytesReceived || 0,
            framesDecoded: s.framesDecoded, frameWidth: s.frameWidth, frameHeight: s.frameHeight };
        } else if (s.type === 'outbound-rtp' && (s.kind === 'video' || s.kind === 'audio')) {
          out.outbound[s.kind] = { packetsSent: s.packetsSent || 0, framesEncoded: s.framesEncoded };
        }
      });
      this.info.dtls = out.dtls || this.info.dtls;
      this.info.local = out.local ? `${out.local.type}/${out.local.protocol}` : '';
      this.info.remote = out.remote ? `${out.remote.type}/${out.remote.protocol}` : '';
      this.render();
      return out;
    }

    render() {
      if (!this.li) return;
      const i = this.info;
      const cls = (v) => (v === 'connected' || v === 'completed' || v === 'open') ? 'good'
        : (v === 'failed' || v === 'closed' || v === 'disconnected') ? 'badstate' : '';
      const part = (label, v) => [`${label} `, el('span', { className: cls(v), textContent: v || '—' })];
      this.li.replaceChildren(
        el('div', {}, el('span', { className: 'pid', textContent: this.id }),
          this.polite ? ' (joined before you)' : ' (joined after you)'),
        el('div', { className: 'state' },
          ...part('ICE', i.ice), ' · ', ...part('DTLS', i.dtls), ' · ', ...part('chat', i.chat),
          ' · path ', i.local ? `${i.local} ↔ ${i.remote}` : '—'));
      this.li.dataset.peer = this.id;
      this.li.dataset.ice = i.ice;
    }

    close() {
      if (this.closed) return;
      this.closed = true;
      try { this.pc.close(); } catch (e) { /* already closed */ }
      if (this.li) this.li.remove();
      if (this.video) this.video.remove();
      peers.delete(this.id);
      renderPeerCount();
    }
  }

  setInterval(() => { for (const p of peers.values()) p.stats().catch(() => {}); }, 1000);

  // ---- chat -------------------------------------------------------------------------------------
  function sendChat(text, to) {
    let n = 0;
    for (const p of peers.values()) if ((!to || p.id === to) && p.sendChat(text)) n++;
    addChatLine(state.id || 'me', text, 'mine');
    return n;
  }
  $('chat-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = $('chat-input').value;
    if (!text) return;
    if (sendChat(text) === 0) addChatLine('', 'Nobody is connected: the message went nowhere.', 'system');
    $('chat-input').value = '';
  });

  // ---- file transfer (docs/file-transfer.md) ------------------------------------------------------
  function transferRow(title) {
    const li = el('li');
    const head = el('div', { textContent: title });
    const bar = el('progress', { max: 1, value: 0 });
    const note = el('div', { className: 'sha' });
    li.append(head, bar, note);
    $('transfers').prepend(li);
    return { li, head, bar, note };
  }
  const waitOpen = (dc) => new Promise((res, rej) => {
    if (dc.readyState === 'open') return res();
    dc.addEventListener('open', () => res(), { once: true });
    dc.addEventListener('close', () => rej(new Error('channel closed before it opened')), { once: true });
  });
  const waitLow = (dc) => new Promise((res, rej) => {
    dc.addEventListener('bufferedamountlow', () => res(), { once: true });
    dc.addEventListener('close', () => rej(new Error('channel closed while sending')), { once: true });
  });

  async function hashFile(file, onProgress) {
    const h = new Sha256();
    for (let off = 0; off < file.size; off += 4 * CHUNK) {
      h.update(new Uint8Array(await file.slice(off, off + 4 * CHUNK).arrayBuffer()));
      onProgress(Math.min(off + 4 * CHUNK, file.size));
    }
    return h.hex();
  }

  async function sendFileTo(peer, file, sha256) {
    const t = { to: peer.id, name: file.name, size: file.size, sha256, sent: 0, status: 'sending', error: null };
    transfers.push(t);
    const row = transferRow(`→ ${peer.id}: ${file.name} (${fmtSize(file.size)})`);
    row.note.textContent = `sha256 ${sha256}`;
    const finish = (status, error) => {
      t.status = status; t.error = error || null;
      row.head.append(el('span', status === 'ok' ? { className: 'ok', textContent: ' — delivered, checksum confirmed' }
        : { className: 'err', textContent: ` — failed: ${error}` }));
    };
    if (!peer.chat || peer.chat.readyState !== 'open') { finish('error', 'peer not connected'); return t; }
    const dc = peer.pc.createDataChannel(`file-${++fileSeq}`, { ordered: true });
    dc.binaryType = 'arraybuffer';
    dc.bufferedAmountLowThreshold = LOW_WATER;
    let answered = null;
    const answer = new Promise((res) => {
      answered = res;
      dc.onmessage = (e) => {
        if (typeof e.data !== 'string') return;
        try { const m = JSON.parse(e.data); if (m.type === 'file-ok' || m.type === 'file-error') res(m); } catch (err) { /* ignore */ }
      };
      dc.addEventListener('close', () => res({ type: 'file-error', reason: 'closed', message: 'the channel closed before an answer' }));
    });
    try {
      await waitOpen(dc);
      dc.send(JSON.stringify({ type: 'file', name: file.name, size: file.size, sha256 }));
      for (let off = 0; off < file.size;) {
        if (dc.bufferedAmount > HIGH_WATER) await waitLow(dc);
        const buf = await file.slice(off, off + CHUNK).arrayBuffer();
        dc.send(buf);
        off += buf.byteLength;
        t.sent = off;
        row.bar.value = off / file.size;
      }
      dc.send(JSON.stringify({ type: 'file-end' }));
      row.bar.value = 1;
      const r = await answer;
      if (r.type === 'file-ok' && r.sha256 === sha256) finish('ok');
      else if (r.type === 'file-ok') finish('error', `receiver computed sha256 ${r.sha256}`);
      else finish('error', `${r.reason || 'error'}${r.message ? ': ' + r.message : ''}`);
    } catch (e) {
      answered({ type: 'file-error' });
      finish('error', e.message);
    }
    dc.close();
    return t;
  }

  // Sends a File/Blob to one peer (by id) or every connected peer. Resolves with the transfer records.
  async function sendFile(file, to) {
    const targets = [...peers.values()].filter((p) => (!to || p.id === to) && p.chat && p.chat.readyState === 'open');
    if (targets.length === 0) {
      const row = transferRow(`${file.name}: nobody is connected to send it to`);
      row.li.classList.add('err');
      return [];
    }
    const row = transferRow(`hashing ${file.name} (${fmtSize(file.size)})…`);
    const sha256 = await hashFile(file, (n) => { row.bar.value = n / (file.size || 1); });
    row.li.remove();
    return Promise.all(targets.map((p) => sendFileTo(p, file, sha256)));
  }
  $('file-input').addEventListener('change', () => {
    const list = [...$('file-input').files];
    $('file-input').value = '';
    (async () => { for (const f of list) await sendFile(f); })();
  });

  function receiveFile(peer, dc) {
    dc.binaryType = 'arraybuffer';
    let hdr = null, hash = null, parts = [], got = 0, done = false, row = null;
    const fail = (reason, message) => {
      if (done) return;
      done = true;
      parts = [];
      try { dc.send(JSON.stringify({ type: 'file-error', reason, message })); } catch (e) { /* closed */ }
      const rec = { from: peer.id, name: hdr ? hdr.name : '?', size: hdr ? hdr.size : 0, sha256: null,
        expected: hdr ? hdr.sha256 : null, ok: false, error: `${reason}: ${message}`, url: null };
      files.push(rec);
      if (!row) row = transferRow(`← ${peer.id}: ${rec.name}`);
      row.head.append(el('span', { className: 'err', textContent: ` — failed: ${rec.error}` }));
    };
    dc.onmessage = (e) => {
      if (done) return;
      if (typeof e.data !== 'string') {
        if (!hdr) return fail('protocol', 'data before the file header');
        got += e.data.byteLength;
        if (got > hdr.size) return fail('size', `more than the announced ${hdr.size} bytes`);
        hash.update(e.data);
        parts.push(e.data);
        row.bar.value = hdr.size ? got / hdr.size : 1;
        return;
      }
      let m;
      try { m = JSON.parse(e.data); } catch (err) { return fail('protocol', 'a text message that is not JSON'); }
      if (m.type === 'file' && !hdr) {
        if (typeof m.name !== 'string' || !Number.isSafeInteger(m.size) || m.size < 0 ||
            typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.sha256)) return fail('protocol', 'bad file header');
        if (m.size > MAX_RECEIVE) return fail('too-large', `${m.size} bytes is more than this page accepts`);
        hdr = { name: m.name.slice(0, 255) || 'file', size: m.size, sha256: m.sha256 };
        hash = new Sha256();
        row = transferRow(`← ${peer.id}: ${hdr.name} (${fmtSize(hdr.size)})`);
      } else if (m.type === 'file-end' && hdr) {
        if (got !== hdr.size) return fail('size', `got ${got} of ${hdr.size} bytes`);
        const sha256 = hash.hex();
        if (sha256 !== hdr.sha256) return fail('sha256', `computed ${sha256}, announced ${hdr.sha256}`);
        done = true;
        dc.send(JSON.stringify({ type: 'file-ok', sha256 }));
        const blob = new Blob(parts, { type: 'application/octet-stream' });
        parts = [];
        const url = URL.createObjectURL(blob);
        files.push({ from: peer.id, name: hdr.name, size: hdr.size, sha256, expected: hdr.sha256, ok: true, error: null, url });
        row.bar.value = 1;
        row.note.textContent = `sha256 ${sha256} (matches the sender's)`;
        row.head.append(' — ', el('a', { href: url, download: hdr.name, textContent: `save ${hdr.name}`, className: 'ok' }));
      } else {
        fail('protocol', `unexpected ${m.type} message`);
      }
    };
    dc.onclose = () => { if (!done && hdr) fail('closed', `channel closed after ${got} of ${hdr.size} bytes`); };
  }

  // ---- camera and microphone --------------------------------------------------------------------
  function mediaError(e) {
    switch (e && e.name) {
      case 'NotAllowedError': case 'SecurityError':
        return 'Camera/microphone access was denied. Allow it for this site in the browser\'s settings, then press Start camera again.';
      case 'NotFoundError': case 'OverconstrainedError':
        return 'No camera or microphone was found.';
      case 'NotReadableError': case 'AbortError':
        return 'The camera or microphone is in use by another program, or failed to start.';
      default:
        return `Could not start the camera: ${e && (e.message || e.name) || e}`;
    }
  }
  async function startCamera() {
    if (localStream) return true;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      $('media-status').textContent = 'This page is not a secure context (use https or localhost): the browser offers no camera.';
      showBanner($('media-status').textContent);
      return false;
    }
    $('start-camera').disabled = true;
    $('media-status').textContent = 'Asking for the camera and microphone…';
    try {
      localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    } catch (e) {
      $('start-camera').disabled = false;
      $('media-status').textContent = mediaError(e);
      showBanner(mediaError(e));
      state.mediaError = e.name || String(e);
      return false;
    }
    const v = el('video', { autoplay: true, playsInline: true, muted: true });
    v.srcObject = localStream;
    const fig = el('figure', { className: 'local' }, v, el('figcaption', { textContent: 'you' }));
    $('videos').prepend(fig);
    v.play().catch(() => {});
    $('media-status').textContent = `Sending ${localStream.getTracks().map((t) => t.kind).join(' + ')} to every peer.`;
    $('start-camera').textContent = 'Camera started';
    $('toggle-mic').disabled = false;
    $('toggle-cam').disabled = false;
    for (const p of peers.values()) p.addLocalTracks();   // → negotiationneeded on each
    return true;
  }
  $('start-camera').addEventListener('click', () => { startCamera(); });
  $('toggle-mic').addEventListener('click', () => {
    const tracks = localStream ? localStream.getAudioTracks() : [];
    const on = !(tracks[0] && tracks[0].enabled);
    tracks.forEach((t) => { t.enabled = on; });
    $('toggle-mic').textContent = on ? 'Mute mic' : 'Unmute mic';
  });
  $('toggle-cam').addEventListener('click', () => {
    const tracks = localStream ? localStream.getVideoTracks() : [];
    const on = !(tracks[0] && tracks[0].enabled);
    tracks.forEach((t) => { t.enabled = on; });
    $('toggle-cam').textContent = on ? 'Camera off' : 'Camera on';
  });

  // ---- test hook --------------------------------------------------------------------------------
  window.duplexDemo = {
    state, chat, files, transfers, signal, Sha256,
    peers: () => [...peers.values()].map((p) => ({ id: p.id, polite: p.polite, ice: p.pc.iceConnectionState,
      connection: p.pc.connectionState, chat: p.chat ? p.chat.readyState : 'none', ...p.info })),
    peer: (id) => peers.get(id),
    sendChat, sendFile, startCamera,
    stats: (id) => {
      if (id) { const p = peers.get(id); return p ? p.stats() : Promise.resolve(null); }
      return Promise.all([...peers.values()].map((p) => p.stats()));
    },
    localStream: () => localStream,
  };
})();
