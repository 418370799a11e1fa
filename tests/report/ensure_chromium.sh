#!/usr/bin/env bash
# Make headless Chromium and its WebDriver available for the browser test.
# Installs the Debian packages `chromium` and `chromium-driver` when running as root with
# apt-get; otherwise explains what is missing. Exit 0 = both on PATH; the last line of
# output is the reason otherwise (the test prints it when it skips).
set -u
have() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }
have && exit 0
if [ "$(id -u)" != "0" ]; then
  echo "not root: install the Debian packages 'chromium' and 'chromium-driver' to run the browser test"
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "no apt-get: install chromium and chromedriver to run the browser test"
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -q >/dev/null 2>&1; then
  echo "apt-get update failed (no access to the Debian mirror?)"
  exit 1
fi
if ! apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null 2>&1; then
  echo "apt-get install chromium chromium-driver failed"
  exit 1
fi
have || { echo "chromium/chromedriver still not on PATH after install"; exit 1; }
