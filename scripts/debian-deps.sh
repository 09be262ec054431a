#!/usr/bin/env bash
# Installs the Debian packages the test suite uses, only those that are missing:
# PostgreSQL and Redis (the distributed-Airflow tests), Chromium (the UI tests).
# Machines and CI run as root; elsewhere it prints what to install and exits 0, so the
# tests that need a missing package skip with that reason instead of failing obscurely.
set -euo pipefail
pkgs=(postgresql redis-server chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "debian-deps: missing ${missing[*]}; install them with apt-get (as root)" >&2
  exit 0
fi
echo "debian-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the services it installs where it can; the tests start their own
# instances on their own ports and data directories, so stop the packaged ones.
for svc in postgresql redis-server; do
  (command -v service >/dev/null && service "$svc" stop >/dev/null 2>&1) || true
done
