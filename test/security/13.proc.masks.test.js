'use strict';

// The run's own /proc shows nothing of the host kernel that Docker or gVisor
// would hide: command line, symbols, config, timers, scheduler internals,
// key rings, hardware directories; and /proc/sys is read-only.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { skipWithoutAddon, fullSandbox, onlyInFull } = require('./common');

const FILES = ['cmdline', 'kallsyms', 'config.gz', 'modules', 'iomem', 'ioports', 'vmallocinfo', 'slabinfo',
  'pagetypeinfo', 'kcore', 'kmsg', 'sched_debug', 'timer_list', 'timer_stats', 'latency_stats', 'keys', 'key-users',
  'sysrq-trigger'];
const DIRS = ['acpi', 'asound', 'bus', 'irq', 'scsi', 'driver'];

describe('security: the run\'s /proc', { skip: skipWithoutAddon }, () => {
  let sandbox;
  before(() => { sandbox = fullSandbox(); });
  after(() => sandbox && sandbox.close());

  it('reads nothing from the host kernel\'s command line, symbols, config, timers or key rings', async () => {
    // Sanity: the host has a command line to leak.
    assert.ok(fs.readFileSync('/proc/cmdline', 'utf8').trim().length > 0);
    const run = await sandbox.runPython([
      'import os',
      'out = {}',
      `for name in ${JSON.stringify(FILES)}:`,
      '    try:',
      '        with open("/proc/" + name, "rb") as f:',
      '            out[name] = f.read(4096).decode("latin1")',
      '    except OSError as e:',
      '        out[name] = None',
      'result = out',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    for (const name of FILES) {
      assert.ok(run.result[name] === null || run.result[name] === '', `/proc/${name} showed ${JSON.stringify(run.result[name]).slice(0, 200)}`);
    }
  });

  it('sees the hardware directories empty and cannot write to sysrq-trigger or /proc/sys', { skip: onlyInFull('no procfs is reachable at all (14.reduced)') }, async () => {
    const run = await sandbox.runPython([
      'import os, errno',
      'out = {}',
      `for name in ${JSON.stringify(DIRS)}:`,
      '    p = "/proc/" + name',
      '    out[name] = os.listdir(p) if os.path.isdir(p) else None',
      'def write(path, data):',
      '    try:',
      '        with open(path, "w") as f:',
      '            f.write(data)',
      '        return "WROTE"',
      '    except OSError as e:',
      '        return errno.errorcode.get(e.errno)',
      'out["sysrq"] = write("/proc/sysrq-trigger", "h")',
      'out["sys"] = write("/proc/sys/kernel/hostname", "x")',
      'out["sys_ro"] = any(l.split()[4] == "/proc/sys" and "ro" in l.split()[5].split(",")',
      '                    for l in open("/proc/self/mountinfo"))',
      // Later masks are binds of the first file's and directory's: each must
      // still be a read-only mount of its own.
      `masked = {"/proc/" + n for n in ${JSON.stringify([...FILES, ...DIRS])}}`,
      'out["masks"] = sorted(l.split()[4] for l in open("/proc/self/mountinfo") if l.split()[4] in masked)',
      'out["masks_rw"] = sorted(l.split()[4] for l in open("/proc/self/mountinfo")',
      '                         if l.split()[4] in masked and "ro" not in l.split()[5].split(","))',
      'out["dir_write"] = [write(p + "/x", "x") for p in sorted(masked) if os.path.isdir(p)]',
      'result = out',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    for (const name of DIRS) {
      assert.ok(run.result[name] === null || run.result[name].length === 0, `/proc/${name}: ${run.result[name]}`);
    }
    assert.notEqual(run.result.sysrq, 'WROTE');
    assert.ok(['EROFS', 'EACCES', 'EPERM'].includes(run.result.sys), run.result.sys);
    assert.equal(run.result.sys_ro, true, '/proc/sys is not mounted read-only');
    // Every entry this kernel has is masked by a mount, and none is writable.
    const present = [...FILES, ...DIRS].filter((n) => fs.existsSync(`/proc/${n}`) && !fs.lstatSync(`/proc/${n}`).isSymbolicLink());
    assert.deepEqual(run.result.masks, present.map((n) => `/proc/${n}`).sort());
    assert.deepEqual(run.result.masks_rw, []);
    assert.ok(run.result.dir_write.length > 0 && run.result.dir_write.every((e) => e !== 'WROTE'), String(run.result.dir_write));
  });

  it('still reads what libraries need: cpuinfo, meminfo, stat and its own process', { skip: onlyInFull('no procfs is reachable at all: libraries fall back (os.cpu_count() uses sched_getaffinity)') }, async () => {
    const run = await sandbox.runPython([
      'import os',
      'result = [len(open("/proc/cpuinfo").read()) > 0, "MemTotal" in open("/proc/meminfo").read(),',
      '          open("/proc/stat").read().startswith("cpu"), os.path.exists("/proc/self/status"), os.cpu_count() > 0]',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.deepEqual(run.result, [true, true, true, true, true]);
  });
});
