#!/usr/bin/env bash
# apt-get install Debian packages, quietly (sudo when not root). Used by the setup scripts for the
# test dependencies that do not come from PyPI: bash scripts/apt-install.sh PACKAGE...
set -euo pipefail
if ! command -v apt-get >/dev/null; then
    echo "apt-install: no apt-get here; install by hand: $*" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
