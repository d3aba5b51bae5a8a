#!/usr/bin/env bash
# The project's test command (README): builds everything and runs every test tier that exists,
# installing what the tests need when it is missing, then prints "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v dotnet >/dev/null 2>&1; then
  echo "test.sh: the .NET 10 SDK is required (https://dot.net); dotnet is not on PATH." >&2
  exit 2
fi

# etcd is a real dependency of the membership tests (issue 5): install Debian's etcd-server when missing.
if ! command -v etcd >/dev/null 2>&1; then
  echo "test.sh: installing etcd-server (the etcd membership tests start private etcd instances)"
  if [ "$(id -u)" -eq 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
  DEBIAN_FRONTEND=noninteractive $apt_get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $apt_get install -y -qq --no-install-recommends etcd-server etcd-client >/dev/null
fi

# setpriv (util-linux) runs one CLI test without CAP_NET_ADMIN, to see SO_MARK refused at start.
if ! command -v setpriv >/dev/null 2>&1; then
  echo "test.sh: installing util-linux (setpriv)"
  if [ "$(id -u)" -eq 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
  DEBIAN_FRONTEND=noninteractive $apt_get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $apt_get install -y -qq --no-install-recommends util-linux >/dev/null
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

dotnet build Dlm.slnx -c Release 2>&1 | tail -n 3

status=0
dotnet test Dlm.slnx -c Release --no-build --logger "trx" --results-directory "$results" "$@" || status=$?

# Summarise from the TRX result files so a run that executed no test is visible.
passed=0; failed=0; skipped=0
for f in "$results"/*.trx; do
  [ -e "$f" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$f" | head -n 1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters"); f_=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  t=$(sed -n 's/.* total="\([0-9]*\)".*/\1/p' <<<"$counters"); e=$(sed -n 's/.* executed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f_:-0})); skipped=$((skipped + ${t:-0} - ${e:-0}))
done
# The kernel interop tier (issue 6): our node against Linux 6.1 in a VM, both roles (about 3 minutes
# the first time, for the image; then about 25 s per role). DLM_INTEROP=0 leaves it out, e.g. without root.
if [ "${DLM_INTEROP:-1}" != 0 ]; then
  interop=$(mktemp)
  tests/interop/kernel.sh 2>&1 | tee "$interop" || status=1
  line=$(grep -o 'kernel interop: [0-9]* passed, [0-9]* failed' "$interop" | tail -n 1)
  if [ -n "$line" ]; then
    passed=$((passed + $(sed 's/.*: \([0-9]*\) passed.*/\1/' <<<"$line")))
    failed=$((failed + $(sed 's/.*passed, \([0-9]*\) failed/\1/' <<<"$line")))
  else
    failed=$((failed + 1)); status=1
    echo "test.sh: the kernel interop tier did not run (see above); DLM_INTEROP=0 leaves it out" >&2
  fi
  rm -f "$interop"
fi

echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$passed" -eq 0 ]; then
  echo "test.sh: no test was executed" >&2
  exit 1
fi
exit $status
