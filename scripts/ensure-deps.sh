#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine with the Swift toolchain lacks: libcurl's headers.
set -euo pipefail
if [ -f /usr/include/curl/curl.h ] || ls /usr/include/*/curl/curl.h >/dev/null 2>&1; then
  exit 0
fi
if [ "$(uname -s)" != "Linux" ]; then
  exit 0  # macOS ships libcurl with the SDK
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
echo "ensure-deps: installing libcurl4-openssl-dev" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libcurl4-openssl-dev >/dev/null
