'use strict';

// Raw syscalls through ctypes, each answered as the run filter's tables say
// (native/jail/seccomp_policy.cc): killed ones end the run with
// SandboxViolation (SIGSYS), refused ones return -1 with the table's errno.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { skipWithoutAddon, fullSandbox } = require('./common');

const EPERM = 1;
const ENOSYS = 38;
const SIGCHLD = 17;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWNS = 0x00020000;
const CLONE_NEWNET = 0x40000000;

// JSON cannot carry 64-bit integers exactly: those are passed as hex strings.
function pyArgs(args) {
  return `[${args.map((a) => (typeof a === 'string' ? `int("${a}", 16)` : String(a))).join(', ')}]`;
}

// syscall(nr, *args) with every argument passed as an unsigned long, so high
// bits reach the kernel as written.
function syscallCode(nr, args) {
  return [
    'import ctypes',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'libc.syscall.restype = ctypes.c_long',
    `r = libc.syscall(ctypes.c_long(${nr}), *[ctypes.c_ulong(a) for a in ${pyArgs(args)}])`,
    'result = [r, ctypes.get_errno()]',
  ].join('\n');
}

// x86_64 numbers: these cases only make sense there.
const skipArch = process.arch !== 'x64' && 'x86_64 syscall numbers';

const KILLED = [
  ['bpf', 321, [0, 0, 0]],
  ['keyctl', 250, [0, 0, 0, 0, 0]],
  ['add_key', 248, [0, 0, 0, 0, 0]],
  ['userfaultfd', 323, [0]],
  ['perf_event_open', 298, [0, 0, 0xffffffff, 0xffffffff, 0]],
  ['ptrace(PTRACE_ATTACH, 1)', 101, [16, 1, 0, 0]],
  ['process_vm_readv', 310, [1, 0, 0, 0, 0, 0]],
  ['pidfd_getfd', 438, [0, 0, 0]],
  ['kcmp', 312, [1, 1, 0, 0, 0]],
  ['open_by_handle_at', 304, [0, 0, 0]],
  // fanotify watches whole mounts: the shared read-only root, like inotify
  ['fanotify_init', 300, [0, 0]],
  ['init_module', 175, [0, 0, 0]],
  // the zygote filter underneath kills io_uring, whatever the run filter says
  ['io_uring_setup', 425, [1, 0]],
  ['pivot_root', 155, [0, 0]],
  ['chroot', 161, [0]],
  ['an unassigned number (400)', 400, []],
];

const REFUSED = [
  ['clone(CLONE_NEWUSER)', 56, [CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0], EPERM],
  ['clone(CLONE_NEWNET)', 56, [CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0], EPERM],
  ['unshare(CLONE_NEWNS)', 272, [CLONE_NEWNS], EPERM],
  ['unshare(CLONE_NEWUSER)', 272, [CLONE_NEWUSER], EPERM],
  ['setns(0, 0)', 308, [0, 0], EPERM],
  ['mount(tmpfs)', 165, [0, 0, 0, 0, 0], EPERM],
  ['umount2("/")', 166, [0, 0], EPERM],
  ['clone3', 435, [0, 0], ENOSYS],
  ['personality(ADDR_NO_RANDOMIZE)', 135, [0x0040000], EPERM],
  ['personality(READ_IMPLIES_EXEC)', 135, [0x0400000], EPERM],
  ['ioctl(0, TIOCSTI)', 16, [0, 0x5412, 0], EPERM],
  ['ioctl(0, TIOCSTI | high bits)', 16, [0, '0xFFFFFFFF00005412', 0], EPERM],
  ['ioctl(0, TIOCLINUX | high bits)', 16, [0, '0x100000000000541C', 0], EPERM],
  ['setuid(0)', 105, [0], EPERM],
  ['seccomp(SET_MODE_FILTER)', 317, [1, 0, 0], EPERM],
  ['prlimit64(1, RLIMIT_NPROC)', 302, [1, 6, 0, 0], EPERM],
  // inotify on the shared read-only root would show a neighbour's imports
  ['inotify_init1', 294, [0], EPERM],
  ['inotify_init', 253, [], EPERM],
  ['inotify_add_watch', 254, [0, 0, 0], EPERM],
  ['fanotify_mark', 301, [0, 0, 0, 0, 0], EPERM],
];

describe('security: syscalls the run filter kills or refuses', { skip: skipWithoutAddon || skipArch }, () => {
  let sandbox;
  before(() => { sandbox = fullSandbox(); });
  after(() => sandbox && sandbox.close());

  for (const [name, nr, args] of KILLED) {
    it(`ends a run calling ${name} with SandboxViolation`, async () => {
      const run = await sandbox.runPython(syscallCode(nr, args));
      assert.equal(run.status, 'error', `${name} returned ${JSON.stringify(run.result)}`);
      assert.equal(run.error.type, 'SandboxViolation', run.error.message);
    });
  }

  for (const [name, nr, args, errno] of REFUSED) {
    it(`refuses ${name} with errno ${errno}`, async () => {
      const run = await sandbox.runPython(syscallCode(nr, args));
      assert.equal(run.status, 'ok', JSON.stringify(run.error));
      assert.deepEqual(run.result, [-1, errno]);
    });
  }

  it('still answers personality(0xffffffff), the query glibc and Python make', async () => {
    const run = await sandbox.runPython(syscallCode(135, ['0xffffffff']));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.equal(run.result[0], 0, 'the persona is PER_LINUX');
  });

  it('kills an x32 syscall (nr | 0x40000000) whatever the number', async () => {
    for (const nr of [0x40000000 + 0 /* read */, 0x40000000 + 57 /* fork */, 0x40000000 + 512]) {
      const run = await sandbox.runPython(syscallCode(nr, [0, 0, 0]));
      assert.equal(run.status, 'error', `x32 ${nr} returned ${JSON.stringify(run.result)}`);
      assert.equal(run.error.type, 'SandboxViolation');
    }
  });

  it('kills an i386 syscall made with int 0x80 from mmap-ed machine code', async () => {
    const run = await sandbox.runPython([
      'import ctypes, mmap',
      '# mov eax, 20 (i386 getpid); int 0x80; ret',
      'stub = bytes([0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0xC3])',
      'page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)',
      'page.write(stub)',
      'address = ctypes.addressof(ctypes.c_char.from_buffer(page))',
      'getpid32 = ctypes.CFUNCTYPE(ctypes.c_long)(address)',
      'result = ["NOT KILLED", getpid32()]',
    ].join('\n'));
    assert.equal(run.status, 'error', `int 0x80 returned ${JSON.stringify(run.result)}`);
    assert.equal(run.error.type, 'SandboxViolation', run.error.message);
  });
  it('cannot watch the shared root with inotify (a side channel on its neighbours and the host)', async () => {
    const run = await sandbox.runPython([
      'import ctypes, os',
      'libc = ctypes.CDLL(None, use_errno=True)',
      'fd = libc.inotify_init1(0)',
      'result = [fd, ctypes.get_errno()]',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.deepEqual(run.result, [-1, EPERM]);
  });

  it('cannot watch the shared root with fanotify through libc either', async () => {
    const run = await sandbox.runPython([
      'import ctypes',
      'libc = ctypes.CDLL(None, use_errno=True)',
      '# FAN_CLASS_NOTIF, O_RDONLY: what a watcher of a neighbour\'s opens would ask for',
      'fd = libc.fanotify_init(0, 0)',
      'result = ["NOT KILLED", fd, ctypes.get_errno()]',
    ].join('\n'));
    assert.equal(run.status, 'error', `fanotify_init returned ${JSON.stringify(run.result)}`);
    assert.equal(run.error.type, 'SandboxViolation', run.error.message);
  });
});
