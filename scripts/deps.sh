#!/usr/bin/env bash
# Installs what building and testing duplex needs on Debian 12, only what is
# missing. Usage: scripts/deps.sh [build|test]   (default: test)
#   build: compiler, CMake, Ninja, OpenSSL, zlib, CLI11, nlohmann-json, usrsctp, libsrtp2,
#          and for the sources and recorders (src/media, duplex-peer) libvpx, libopus, libogg, OpenH264
#   test:  build + GoogleTest, clang/libFuzzer, the interop peers (Chromium,
#          Python websockets, Node ws and playwright-core)
set -euo pipefail
what=${1:-test}
here=$(cd "$(dirname "$0")/.." && pwd)

pkgs=(g++ cmake ninja-build make pkg-config libssl-dev zlib1g-dev libcli11-dev nlohmann-json3-dev libusrsctp-dev libsrtp2-dev
      libvpx-dev libopus-dev libogg-dev libopenh264-dev)
if [ "$what" = test ]; then
  pkgs+=(libgtest-dev libgmock-dev clang libclang-rt-14-dev chromium python3 python3-websockets curl openssl procps util-linux iproute2 coturn nftables redis-server python3-aiortc python3-zeroconf)
  command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || pkgs+=(npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
fi

if [ "$what" = test ] && [ -f "$here/tests/interop/package.json" ]; then
  # The Node peers of the interop tests, pinned by the lock file. Never a
  # browser download: Chromium comes from Debian.
  if [ ! -d "$here/tests/interop/node_modules" ] || [ "$here/tests/interop/package-lock.json" -nt "$here/tests/interop/node_modules" ]; then
    echo "deps: npm install in tests/interop"
    (cd "$here/tests/interop" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) \
      || (cd "$here/tests/interop" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error)
    touch "$here/tests/interop/node_modules"
  fi
fi
