// Incremental SHA-256 (FIPS 180-4) for the demo's file transfer: WebCrypto's
// digest() wants the whole input at once, this one takes it chunk by chunk.
//
//   const h = new Sha256(); h.update(uint8array); ...; const hex = h.hex();
//
// Plain script: defines globalThis.Sha256 (and module.exports under Node, so
// tests can check it against node:crypto).
'use strict';
(function (root) {
  // First 32 bits of the fractional parts of the cube roots of the first 64 primes.
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);
  const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

  class Sha256 {
    constructor() {
      this.h = new Uint32Array(IV);
      this.w = new Uint32Array(64);
      this.block = new Uint8Array(64);   // a partial block carried between update() calls
      this.fill = 0;                      // bytes in this.block
      this.length = 0;                    // total bytes hashed (a double: exact up to 2^53)
      this.done = false;
    }

    // Compresses the 64 bytes at buf[off..off+64).
    compress(buf, off) {
      const w = this.w, h = this.h;
      for (let i = 0; i < 16; i++, off += 4) {
        w[i] = (buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3];
      }
      for (let i = 16; i < 64; i++) {
        const a = w[i - 15], b = w[i - 2];
        const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
        const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      let A = h[0], B = h[1], C = h[2], D = h[3], E = h[4], F = h[5], G = h[6], H = h[7];
      for (let i = 0; i < 64; i++) {
        const S1 = ((E >>> 6) | (E << 26)) ^ ((E >>> 11) | (E << 21)) ^ ((E >>> 25) | (E << 7));
        const ch = (E & F) ^ (~E & G);
        const t1 = (H + S1 + ch + K[i] + w[i]) | 0;
        const S0 = ((A >>> 2) | (A << 30)) ^ ((A >>> 13) | (A << 19)) ^ ((A >>> 22) | (A << 10));
        const maj = (A & B) ^ (A & C) ^ (B & C);
        const t2 = (S0 + maj) | 0;
        H = G; G = F; F = E; E = (D + t1) | 0;
        D = C; C = B; B = A; A = (t1 + t2) | 0;
      }
      h[0] += A; h[1] += B; h[2] += C; h[3] += D; h[4] += E; h[5] += F; h[6] += G; h[7] += H;
    }

    // Feeds bytes (Uint8Array, ArrayBuffer or any ArrayBufferView). Returns this.
    update(data) {
      if (this.done) throw new Error('Sha256: update() after digest()');
      let bytes;
      if (data instanceof Uint8Array) bytes = data;
      else if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
      else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      else throw new TypeError('Sha256: update() takes bytes');
      let i = 0;
      const n = bytes.length;
      this.length += n;
      if (this.fill > 0) {
        const take = Math.min(64 - this.fill, n);
        this.block.set(bytes.subarray(0, take), this.fill);
        this.fill += take;
        i = take;
        if (this.fill < 64) return this;
        this.compress(this.block, 0);
        this.fill = 0;
      }
      for (; i + 64 <= n; i += 64) this.compress(bytes, i);
      if (i < n) { this.block.set(bytes.subarray(i), 0); this.fill = n - i; }
      return this;
    }

    // Finishes and returns the 32-byte digest (a Uint8Array). The object is spent afterwards.
    digest() {
      if (!this.done) {
        const bits = this.length * 8;
        const b = this.block;
        b[this.fill++] = 0x80;
        if (this.fill > 56) { b.fill(0, this.fill); this.compress(b, 0); this.fill = 0; }
        b.fill(0, this.fill, 56);
        const hi = Math.floor(bits / 0x100000000), lo = bits >>> 0;
        b[56] = hi >>> 24; b[57] = hi >>> 16; b[58] = hi >>> 8; b[59] = hi;
        b[60] = lo >>> 24; b[61] = lo >>> 16; b[62] = lo >>> 8; b[63] = lo;
        this.compress(b, 0);
        this.done = true;
      }
      const out = new Uint8Array(32);
      for (let i = 0; i < 8; i++) {
        const v = this.h[i];
        out[4 * i] = v >>> 24; out[4 * i + 1] = v >>> 16; out[4 * i + 2] = v >>> 8; out[4 * i + 3] = v;
      }
      return out;
    }

    // The digest as 64 lowercase hex digits.
    hex() {
      return Array.from(this.digest(), (b) => b.toString(16).padStart(2, '0')).join('');
    }

    // One-shot convenience.
    static hex(data) { return new Sha256().update(data).hex(); }
  }

  root.Sha256 = Sha256;
  if (typeof module === 'object' && module.exports) module.exports = Sha256;
})(typeof globalThis !== 'undefined' ? globalThis : this);
