#!/usr/bin/env bash
# Make sure a headless-capable Chromium is available for tests/browser: $CHROMIUM, else
# `chromium` (or chromium-browser / google-chrome) on PATH, else Debian's `chromium` package
# installed with apt-get (as root, or through passwordless sudo). One line when that cannot work.
set -euo pipefail

if [ -n "${CHROMIUM:-}" ]; then
  [ -x "$CHROMIUM" ] || { echo "error: CHROMIUM=$CHROMIUM is not an executable" >&2; exit 1; }
  exit 0
fi
for name in chromium chromium-browser google-chrome google-chrome-stable; do
  command -v "$name" >/dev/null 2>&1 && exit 0
done

if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: chromium not found and apt-get is not available: install Chromium or Chrome (or set CHROMIUM=/path/to/it) for the browser test" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "error: chromium not found and apt-get needs root: run 'sudo apt-get install chromium' (or set CHROMIUM=/path/to/chrome)" >&2
    exit 1
  fi
fi
echo "installing chromium (Debian package, once) for the browser test"
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
if ! { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
  echo "error: 'apt-get install chromium' failed (see below); install Chromium or set CHROMIUM=/path/to/chrome" >&2
  tail -n 20 "$log" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
command -v chromium >/dev/null 2>&1 || { echo "error: chromium was installed but is not on PATH" >&2; exit 1; }
