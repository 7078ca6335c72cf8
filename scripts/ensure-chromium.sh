#!/usr/bin/env bash
# Make sure a headless Chromium is available for tests/test_report_browser.py (called by
# `make test`). Idempotent: does nothing when a Chromium is already on PATH (or named by
# $SCALECMP_CHROMIUM); otherwise installs Debian's `chromium` package with apt-get, as root
# or through password-less sudo. It never fails the build: when it cannot install, it says
# why, and the browser test skips with that reason.
set -u

if [ -n "${SCALECMP_CHROMIUM:-}" ]; then  # an explicit choice is not second-guessed
  if command -v "$SCALECMP_CHROMIUM" >/dev/null 2>&1; then
    echo "ensure-chromium: found $(command -v "$SCALECMP_CHROMIUM") (SCALECMP_CHROMIUM)"
  else
    echo "ensure-chromium: SCALECMP_CHROMIUM=$SCALECMP_CHROMIUM is not an executable" \
         "(the browser test skips)"
  fi
  exit 0
fi

found() {
  for c in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
  done
  return 1
}

if path=$(found); then
  echo "ensure-chromium: found $path"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: chromium is missing and there is no apt-get to install it;" \
       "install Chromium by hand or set SCALECMP_CHROMIUM (the browser test skips)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "ensure-chromium: chromium is missing; installing it needs root or password-less" \
         "sudo (run: sudo apt-get install chromium); the browser test skips"
    exit 0
  fi
fi
echo "ensure-chromium: installing Debian's chromium with apt-get (once; about a minute)"
log=$(mktemp)
export DEBIAN_FRONTEND=noninteractive
if $SUDO apt-get update -qq >"$log" 2>&1 && $SUDO apt-get install -y -qq chromium >>"$log" 2>&1
then
  rm -f "$log"
  if path=$(found); then echo "ensure-chromium: installed $path"; exit 0; fi
fi
echo "ensure-chromium: apt-get could not install chromium (the browser test skips):"
tail -n 5 "$log"
rm -f "$log"
exit 0
