// duplex-signal.js: a small client for duplex's signaling protocol
// (docs/signaling.md), spoken on duplex-server's /signal WebSocket.
//
//   const sig = new DuplexSignal();
//   sig.on('joined', (m) => …);          // m = the server's message, parsed
//   await sig.connect('ws://host/signal'); // resolves on open
//   const joined = await sig.join('room', { id, token });  // resolves with `joined`, rejects with `error`
//   sig.sendOffer(to, sdp); sig.sendAnswer(to, sdp); sig.sendCandidate(to, candidateInit);
//   sig.leave(); sig.close();
//
// Events (each handler gets the message object; also dispatched as CustomEvents with it in `detail`):
//   joined, peer-joined, peer-left, offer, answer, candidate, error, message (every message),
//   close ({code, reason, wasClean}).
// No reconnect. Plain script: defines globalThis.DuplexSignal.
'use strict';
(function (root) {
  class DuplexSignal extends EventTarget {
    constructor() {
      super();
      this.ws = null;
      this.id = null;       // our peer id, once joined
      this.room = null;
      this.iceServers = [];
      this._pendingJoin = null;
    }

    // The /signal URL on the server that served this page (ws: or wss:).
    static defaultUrl(loc = root.location) {
      return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/signal`;
    }

    get open() { return !!this.ws && this.ws.readyState === 1; }

    // handler(message) for one event type; returns a function that removes it.
    on(type, handler) {
      const l = (ev) => handler(ev.detail);
      this.addEventListener(type, l);
      return () => this.removeEventListener(type, l);
    }

    _emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

    // Opens the WebSocket; resolves once it is open, rejects if it closes first.
    connect(url = DuplexSignal.defaultUrl()) {
      if (this.ws) return Promise.reject(new Error('already connected'));
      return new Promise((resolve, reject) => {
        const ws = new WebSocket(url);
        this.ws = ws;
        let opened = false;
        ws.onopen = () => { opened = true; resolve(this); };
        ws.onmessage = (ev) => this._onMessage(ev.data);
        ws.onclose = (ev) => {
          const info = { code: ev.code, reason: ev.reason, wasClean: ev.wasClean };
          if (this._pendingJoin) { this._pendingJoin.reject(new Error(`signaling closed (${ev.code})`)); this._pendingJoin = null; }
          if (!opened) reject(new Error(`could not connect to ${url} (${ev.code})`));
          this._emit('close', info);
        };
      });
    }

    _onMessage(data) {
      if (typeof data !== 'string') return;   // the protocol is text only
      let msg;
      try { msg = JSON.parse(data); } catch (e) { return; }
      if (!msg || typeof msg.type !== 'string') return;
      if (msg.type === 'joined') {
        this.id = msg.id;
        this.room = msg.room;
        this.iceServers = Array.isArray(msg.iceServers) ? msg.iceServers : [];
        if (this._pendingJoin) { this._pendingJoin.resolve(msg); this._pendingJoin = null; }
      } else if (msg.type === 'error' && this._pendingJoin) {
        // An error while a join is outstanding is the join's answer (the server handles messages in order).
        const e = new Error(`${msg.code}: ${msg.message}`);
        e.code = msg.code;
        this._pendingJoin.reject(e);
        this._pendingJoin = null;
      }
      this._emit('message', msg);
      this._emit(msg.type, msg);
    }

    send(msg) {
      if (!this.open) throw new Error('signaling socket is not open');
      this.ws.send(JSON.stringify(msg));
    }

    // Joins a room; resolves with the `joined` message (peers, iceServers), rejects with the server's error.
    join(room, { id, token } = {}) {
      const msg = { type: 'join', room };
      if (id) msg.id = id;
      if (token) msg.token = token;
      return new Promise((resolve, reject) => {
        this._pendingJoin = { resolve, reject };
        try { this.send(msg); } catch (e) { this._pendingJoin = null; reject(e); }
      });
    }

    sendOffer(to, sdp) { this.send({ type: 'offer', to, sdp }); }
    sendAnswer(to, sdp) { this.send({ type: 'answer', to, sdp }); }
    sendDescription(to, desc) { this.send({ type: desc.type, to, sdp: desc.sdp }); }

    // candidate: an RTCIceCandidate (or its toJSON()), or null / '' for end of candidates.
    sendCandidate(to, candidate) {
      const msg = { type: 'candidate', to, candidate: (candidate && candidate.candidate) || '' };
      if (candidate && candidate.sdpMid != null) msg.sdpMid = candidate.sdpMid;
      if (candidate && candidate.sdpMLineIndex != null) msg.sdpMLineIndex = candidate.sdpMLineIndex;
      this.send(msg);
    }

    leave() { if (this.open) this.send({ type: 'leave' }); this.id = null; }

    close(code = 1000, reason = '') { if (this.ws) this.ws.close(code, reason); }
  }

  root.DuplexSignal = DuplexSignal;
})(typeof globalThis !== 'undefined' ? globalThis : this);
