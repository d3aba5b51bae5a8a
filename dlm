#!/usr/bin/env bash
# Runs the dlm tool from source, building it first when a source file changed. Usage: ./dlm help
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
exe="$here/src/Dlm.Cli/bin/Release/net10.0/Dlm.Cli"
if [ ! -x "$exe" ] || [ -n "$(find "$here/src" \( -name '*.cs' -o -name '*.csproj' \) -newer "$exe" -print -quit)" ]; then
  log=$(mktemp)
  if ! dotnet build "$here/src/Dlm.Cli" -c Release -nologo >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"; exit 2
  fi
  rm -f "$log"
fi
exec "$exe" "$@"
