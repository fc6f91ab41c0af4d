#!/usr/bin/env bash
# Self-test of the default-`docker run` emulation (run as root):
#   bash test/container/selftest.sh
# Prints PASS/FAIL per check; exits 1 if any check failed.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
run="$here/run-emulated.sh"
failures=0

pass() { printf 'PASS  %s\n' "$1"; }
fail() { printf 'FAIL  %s -- %s\n' "$1" "$2"; failures=$((failures + 1)); }

# check NAME EXPECTED_OUTPUT ARGS... : runs the launcher, compares stdout.
check_out() {
  local name=$1 want=$2 got
  shift 2
  got=$("$run" "$@" 2>&1)
  if [ "$got" = "$want" ]; then pass "$name"; else fail "$name" "expected '$want', got '$got'"; fi
}

if [ "$(id -u)" != 0 ]; then
  fail "preflight" "must run as root"
  exit 1
fi

# 0. The launcher builds and runs a trivial command.
if "$run" -- true; then pass "launcher builds and runs 'true'"
else fail "launcher builds and runs 'true'" "exit $?"; exit 1; fi

# 1. User namespaces are refused (unshare/clone with CLONE_NEWUSER need
#    CAP_SYS_ADMIN in Docker's profile). Control: the host itself allows it.
if unshare -U true 2>/dev/null; then host_userns=allowed; else host_userns=refused; fi
if out=$("$run" -- unshare -U true 2>&1); then
  fail "root: 'unshare -U true' is refused" "it succeeded"
else
  pass "root: 'unshare -U true' is refused ($out; on the host: $host_userns)"
fi

# 2. /proc/kcore yields nothing (masked with /dev/null, or absent).
check_out "root: 'cat /proc/kcore' reads nothing" "0" \
  -- sh -c 'cat /proc/kcore 2>/dev/null | head -c 1 | wc -c'

# 3. /proc/sys is read-only (opening for append writes nothing even if it
#    were writable).
if out=$("$run" -- sh -c ': >> /proc/sys/kernel/hostname' 2>&1); then
  fail "root: /proc/sys is read-only" "opening /proc/sys/kernel/hostname for writing succeeded"
elif [[ $out == *"Read-only file system"* ]]; then
  pass "root: /proc/sys is read-only"
else
  fail "root: /proc/sys is read-only" "unexpected error: $out"
fi

# 4. Capabilities of root: Docker's default set, nothing inheritable.
check_out "root: CapEff is 00000000a80425fb" "CapEff:	00000000a80425fb" \
  -- grep CapEff /proc/self/status
check_out "root: CapBnd is 00000000a80425fb" "CapBnd:	00000000a80425fb" \
  -- grep CapBnd /proc/self/status
check_out "root: CapInh and CapAmb are empty" \
  "$(printf 'CapInh:\t0000000000000000\nCapAmb:\t0000000000000000')" \
  -- grep -E 'CapInh|CapAmb' /proc/self/status

# 5. --user 1000:1000: no effective/permitted capabilities, same bounding set.
check_out "--user 1000:1000: CapEff is 0" "CapEff:	0000000000000000" \
  --user 1000:1000 -- grep CapEff /proc/self/status
check_out "--user 1000:1000: CapPrm is 0, CapBnd is a80425fb" \
  "$(printf 'CapPrm:\t0000000000000000\nCapBnd:\t00000000a80425fb')" \
  --user 1000:1000 -- grep -E 'CapPrm|CapBnd' /proc/self/status
check_out "--user 1000:1000: runs as 1000:1000 without groups" "1000 1000 1000" \
  --user 1000:1000 -- sh -c 'echo $(id -u) $(id -g) $(id -G)'

# 6. Seccomp filter mode, no no_new_privs (Docker's default).
check_out "root: Seccomp 2, NoNewPrivs 0" \
  "$(printf 'NoNewPrivs:\t0\nSeccomp:\t2')" \
  -- grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status

# 7. Syscalls: mount refused (EPERM), a syscall newer than the profile gets
#    ENOSYS (runc's stub), clone3 gets ENOSYS (profile rule), getpid works.
if command -v python3 >/dev/null; then
  check_out "root: mount EPERM, syscall 1000 ENOSYS, clone3 ENOSYS, getpid ok" \
    "EPERM ENOSYS ENOSYS ok" -- python3 -c '
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    if libc.syscall(nr, *args) >= 0: return "ok"
    return errno.errorcode.get(ctypes.get_errno(), "?")
print(call(165, b"none", b"/mnt", b"tmpfs", 0, None), call(1000), call(435, None, 0), call(39))'
else
  fail "syscall results" "python3 not found"
fi

# 8. /sys is read-only, a masked directory is an empty tmpfs.
if out=$("$run" -- sh -c ': >> /sys/kernel/uevent_helper' 2>&1); then
  fail "root: /sys is read-only" "opening a sysfs file for writing succeeded"
elif [[ $out == *"Read-only file system"* ]]; then
  pass "root: /sys is read-only"
else
  fail "root: /sys is read-only" "unexpected error: $out"
fi
if [ -d /sys/firmware ]; then
  check_out "root: /sys/firmware is an empty tmpfs" "tmpfs 0" \
    -- sh -c 'echo $(stat -f -c %T /sys/firmware) $(ls -A /sys/firmware | wc -l)'
fi

# 9. Launcher errors look like docker run's.
"$run" -- /nonexistent/command 2>/dev/null
rc=$?
if [ "$rc" = 127 ]; then pass "missing command exits 127"; else fail "missing command exits 127" "exit $rc"; fi
"$run" --profile /nonexistent.json -- true 2>/dev/null
rc=$?
if [ "$rc" = 125 ]; then pass "missing profile exits 125"; else fail "missing profile exits 125" "exit $rc"; fi

if [ "$failures" -ne 0 ]; then
  echo "selftest: $failures check(s) failed"
  exit 1
fi
echo "selftest: all checks passed"
