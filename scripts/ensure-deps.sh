#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine with the Swift toolchain lacks: libcurl's headers
# (to build) and chromium (the dashboard test drives it headless).
set -euo pipefail
if [ "$(uname -s)" != "Linux" ]; then
  exit 0  # macOS ships libcurl with the SDK
fi
missing=()
if ! [ -f /usr/include/curl/curl.h ] && ! ls /usr/include/*/curl/curl.h >/dev/null 2>&1; then
  missing+=(libcurl4-openssl-dev)
fi
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  missing+=(chromium)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
echo "ensure-deps: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
