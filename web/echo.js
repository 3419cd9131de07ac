// The echo page: connects to /echo on the server that served it, sends what
// the user types and shows what comes back.
'use strict';
(() => {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const url = `${scheme}//${location.host}/echo`;
  const $ = (id) => document.getElementById(id);
  $('url').textContent = url;

  const log = (text, kind) => {
    const li = document.createElement('li');
    li.className = kind;
    li.textContent = (kind === 'sent' ? '→ ' : '← ') + text;
    $('log').appendChild(li);
  };
  const setStatus = (text, cls) => {
    $('status').textContent = text;
    $('status').className = 'status ' + (cls || '');
  };

  const ws = new WebSocket(url);
  window.duplexSocket = ws;
  ws.onopen = () => {
    setStatus('open', 'open');
    $('message').disabled = false;
    $('send').disabled = false;
    $('message').focus();
  };
  ws.binaryType = 'arraybuffer';
  ws.onmessage = (ev) => log(typeof ev.data === 'string' ? ev.data : `[binary message, ${ev.data.byteLength} bytes]`, 'received');
  ws.onclose = (ev) => {
    setStatus(`closed (${ev.code}${ev.reason ? ' ' + ev.reason : ''})`, 'closed');
    $('message').disabled = true;
    $('send').disabled = true;
  };
  $('form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = $('message').value;
    if (!text || ws.readyState !== WebSocket.OPEN) return;
    ws.send(text);
    log(text, 'sent');
    $('message').value = '';
  });
})();
