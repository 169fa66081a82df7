#!/usr/bin/env bash
# Installs what rkserve needs to build, test and benchmark. Idempotent: packages
# already present are skipped by apt, and npm ci is skipped when node_modules
# matches the committed lock file.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake pkg-config clang
  libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev
  libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev libwebp-dev
  libcmocka-dev
  python3-numpy python3-torch python3-pil
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
  fortunes-min fortune-mod
  unicode-data
  nodejs npm curl
)

# arm64 builds of what rkcore and the unit tests link, for `make aarch64`
# (Debian multiarch; needs the arm64 architecture enabled in dpkg)
CROSS_PACKAGES=(libcmocka-dev:arm64 libjansson-dev:arm64 libmicrohttpd-dev:arm64
  libturbojpeg0-dev:arm64 libjpeg62-turbo-dev:arm64 libpng-dev:arm64 libwebp-dev:arm64
  libcurl4-openssl-dev:arm64 libssl-dev:arm64)

# On a board (`--board`): only what building rkserve itself needs
if [ "${1:-}" = "--board" ]; then
  APT_PACKAGES=(build-essential cmake pkg-config libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libssl-dev
    libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev libwebp-dev libcmocka-dev)
  CROSS_PACKAGES=()
  board_only=1
fi

missing=()
for p in "${APT_PACKAGES[@]}" "${CROSS_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from elsewhere on the machine; only ask apt when absent
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  if [[ " ${missing[*]} " == *":arm64 "* ]] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
  fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

if [ -f package-lock.json ] && [ -z "${board_only:-}" ]; then
  stamp=node_modules/.rkserve-lock
  if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
    npm ci --no-audit --no-fund
    cp package-lock.json "$stamp"
  fi
fi
