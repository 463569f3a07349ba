#!/usr/bin/env bash
# Headless Chromium for the console's browser tests (tests/test_console_browser.py): Debian's
# chromium and chromium-driver, whose paths the tests hand Selenium, so that nothing is
# downloaded at test time. Installs them when missing; idempotent, quiet.
set -euo pipefail

have_browser() {
    [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]
}

if have_browser; then
    exit 0
fi
bash "$(dirname "$0")/apt-install.sh" chromium chromium-driver
have_browser || { echo "setup-browser: chromium installed but /usr/bin/chromium or /usr/bin/chromedriver missing" >&2; exit 1; }
