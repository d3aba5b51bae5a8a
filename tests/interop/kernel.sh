#!/usr/bin/env bash
# Our node against a real Linux kernel DLM (docs/interop.md). Publishes the dlm tool, makes sure the
# kernel-VM harness can run (packages, images), then runs every combination asked for:
#   kernels  DLM_INTEROP_KERNELS  "6.1" (default) and/or "6.12" (Debian bookworm-backports)
#   roles    DLM_INTEROP_ROLES    "default swapped": our node is node 2 (the kernel coordinates recovery)
#                                 and node 1 (we coordinate)
# Each run: the guest's LVB counter (200) while we add 200 to the same counter; the guest's PR holder
# gets a BAST when we ask for EX (hold1); our PR hold on the counter gets a BAST from the kernel's EX;
# the kernel leaves with the FIN handshake. Prints one line per combination and "N passed, N failed".
# Needs root (network namespace, tap device, image build). The harness is tests/interop/kernel-vm
# (a copy of the team's shared tools/kernel-vm; KERNEL_VM_DIR overrides it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VM=${KERNEL_VM_DIR:-$ROOT/tests/interop/kernel-vm}
KERNELS=${DLM_INTEROP_KERNELS:-6.1}
ROLES=${DLM_INTEROP_ROLES:-default swapped}
OUT=${DLM_INTEROP_OUT:-/var/tmp/dlm-interop}
COUNTER=${DLM_INTEROP_COUNTER:-200}

if [ "$(id -u)" -ne 0 ]; then
  echo "kernel.sh: needs root (network namespace, tap device, image build); nothing was run" >&2
  exit 2
fi

missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
command -v ip >/dev/null || missing+=(iproute2)
if [ ${#missing[@]} -gt 0 ]; then
  echo "kernel.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "kernel.sh: publishing the dlm tool to $OUT/bin"
mkdir -p "$OUT"
dotnet publish "$ROOT/src/Dlm.Cli/Dlm.Cli.csproj" -c Release -o "$OUT/bin" --nologo -v quiet >/dev/null

passed=0; failed=0; summary=()
for kernel in $KERNELS; do
  case $kernel in
    6.1) img=/var/tmp/kernel-vm; suite_env=() ;;
    6.12) img=/var/tmp/kernel-vm-bpo; suite_env=(KVM_KERNEL_SUITE=bookworm-backports) ;;
    *) echo "kernel.sh: unknown kernel '$kernel' (6.1 or 6.12)" >&2; exit 2 ;;
  esac
  if ! env "${suite_env[@]}" KVM_IMG_DIR="$img" "$VM/build-image.sh" --check >/dev/null 2>&1; then
    echo "kernel.sh: building the $kernel image in $img (about 2-3 minutes, once)"
    env "${suite_env[@]}" KVM_IMG_DIR="$img" "$VM/build-image.sh" >"$OUT/build-$kernel.log" 2>&1 \
      || { echo "kernel.sh: image build failed, see $OUT/build-$kernel.log" >&2; tail -n 20 "$OUT/build-$kernel.log" >&2; exit 1; }
  fi

  for role in $ROLES; do
    case $role in
      default) guest=1; host=2 ;;
      swapped) guest=2; host=1 ;;
      *) echo "kernel.sh: unknown role '$role' (default or swapped)" >&2; exit 2 ;;
    esac
    run="$OUT/runs/$kernel-$role-$(date +%Y%m%d-%H%M%S)"
    mkdir -p "$run"
    started=$SECONDS
    status=0
    env "${suite_env[@]}" KVM_IMG_DIR="$img" KVM_RUN_DIR="$run" KVM_GUEST_NODEID=$guest KVM_HOST_NODEID=$host \
      KVM_GUEST_ARGS="--counter $COUNTER --counter-expect $((2 * COUNTER)) --hold-pr hold1:20 --expect-bast" \
      "$VM/run.sh" dotnet "$OUT/bin/Dlm.Cli.dll" kernel-peer --counter "$COUNTER" --ex hold1 --hold-pr counter \
      >"$run/run.out" 2>&1 || status=$?
    wall=$((SECONDS - started))
    ours=$(grep -ho "RESULT [A-Z]*" "$run/host.log" 2>/dev/null | tail -n 1 | cut -d' ' -f2)
    guest_verdict=$(grep -ho "DLMVM: RESULT [A-Z]*" "$run/guest/dlmvm.log" 2>/dev/null | tail -n 1 | cut -d' ' -f3)
    latency=$(grep -h "COUNTER LATENCY" "$run/guest/dlmvm.log" 2>/dev/null | head -n 1 | sed 's/.*COUNTER LATENCY //')
    peer="$run/dotnet-peer.json"
    p50=$(sed -n 's/.*"counter_cycle_p50_us": \([0-9.]*\).*/\1/p' "$peer" 2>/dev/null)
    p99=$(sed -n 's/.*"counter_cycle_p99_us": \([0-9.]*\).*/\1/p' "$peer" 2>/dev/null)
    line=$(printf 'kernel %-4s role %-8s run.sh %s, kernel %s, ours %s, %s s; our counter cycle p50 %s us p99 %s us; kernel: %s' \
      "$kernel" "$role" "$status" "${guest_verdict:-none}" "${ours:-none}" "$wall" "${p50:-?}" "${p99:-?}" "${latency:-no latency line}")
    if [ "$status" -eq 0 ] && [ "$guest_verdict" = PASS ] && [ "$ours" = PASS ]; then
      passed=$((passed + 1)); summary+=("PASS $line")
    else
      failed=$((failed + 1)); summary+=("FAIL $line (logs: $run)")
      tail -n 30 "$run/run.out" >&2 || true
    fi
    echo "${summary[-1]}"
  done
done

echo "kernel interop: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
