#!/usr/bin/env bash
# Install the Debian packages the tests need (lists in scripts/system-packages/,
# one package per line, '#' comments). Installs only what is missing, so a
# warm machine pays nothing; runs `apt-get update` once when it must install.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t wanted < <(cat scripts/system-packages/*.txt 2>/dev/null | sed -e 's/#.*//' -e 's/[[:space:]]//g' | grep -v '^$' | sort -u)
((${#wanted[@]})) || exit 0
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
((${#missing[@]})) || exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "setup-system: missing Debian packages: ${missing[*]} (run as root or install them)" >&2
  exit 1
fi
echo "setup-system: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
