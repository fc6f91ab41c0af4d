'use strict';

// Adaptive preload (docs/ARCHITECTURE.md "Adaptive preload"): what a bundle's
// runs import beyond its warm interpreter, counted per bundle, becomes the
// next warm interpreter's preload. A run's report is a hint by name only: the
// zygote imports a name only from the bundle or the standard library, probes
// a new one in a throwaway child first, and reports what it kept
// (`pycage-zygote: preload-report {json}` lines).
//
// What one bundle has learned lives in one small JSON file beside the store
// (installs are immutable): { version, learned, dropped }. Counts are not
// kept: a restart starts warm with what was learned, and learns anew.

const fs = require('node:fs');
const path = require('node:path');
const validate = require('./validate');

const MODULE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const MAX_NAME = 200;          // runner/learning.py and the C++ reply parser keep to it too
const MAX_TRACKED = 4096;      // distinct names counted per bundle (a flood is cut here)
const MAX_DROPPED = 1024;
const FILE_VERSION = 1;
const REPORT_PREFIX = 'pycage-zygote: preload-report ';

const DEFAULTS = Object.freeze({ learn: true, minRuns: 3, maxModules: 128, maxGrowthMb: 128, idleMs: 1000 });
const OPTIONS = Object.keys(DEFAULTS);

// preload: { learn, minRuns, maxModules, maxGrowthMb, idleMs } of new Sandbox().
function checkPreloadOptions(preload) {
  if (preload === undefined) return { ...DEFAULTS };
  validate.object(preload, 'preload');
  validate.knownKeys(preload, OPTIONS, 'preload of new Sandbox()');
  const out = { ...DEFAULTS };
  if (preload.learn !== undefined) {
    if (typeof preload.learn !== 'boolean') throw validate.expected('boolean', 'preload.learn', preload.learn);
    out.learn = preload.learn;
  }
  if (preload.minRuns !== undefined) out.minRuns = validate.integerBetween(preload.minRuns, 'preload.minRuns', 1, 1_000_000);
  if (preload.maxModules !== undefined) {
    out.maxModules = validate.integerBetween(preload.maxModules, 'preload.maxModules', 0, 256);
  }
  if (preload.maxGrowthMb !== undefined) {
    out.maxGrowthMb = validate.integerBetween(preload.maxGrowthMb, 'preload.maxGrowthMb', 1, 16384);
  }
  if (preload.idleMs !== undefined) out.idleMs = validate.integerBetween(preload.idleMs, 'preload.idleMs', 0, 2 ** 31 - 1);
  return out;
}

function isModuleName(name) {
  return typeof name === 'string' && name.length > 0 && name.length <= MAX_NAME && MODULE_NAME.test(name);
}

class PreloadLearner {
  // file: where this bundle's list persists (null: memory only).
  constructor(file, options) {
    this.file = file;
    this.options = options;
    this.counts = new Map();   // name -> runs that imported it
    this.learned = [];         // kept by a zygote's probe before, in order
    this.dropped = new Map();  // name -> why a zygote dropped it
    this.offered = new Set();  // names the current zygote was given
    // Names that reached minRuns since the current zygote's list was made:
    // checked after every idle run, so it is kept as it happens rather than
    // recomputed from all counts.
    this.ripe = new Set();
    this.load();
  }

  load() {
    if (this.file === null) return;
    let saved;
    try {
      saved = JSON.parse(fs.readFileSync(this.file, 'utf8'));
    } catch {
      return;  // none yet, or unreadable: learn anew
    }
    if (!saved || saved.version !== FILE_VERSION) return;
    if (Array.isArray(saved.learned)) {
      this.learned = [...new Set(saved.learned.filter(isModuleName))].slice(0, this.options.maxModules);
    }
    if (saved.dropped && typeof saved.dropped === 'object') {
      for (const [name, why] of Object.entries(saved.dropped).slice(0, MAX_DROPPED)) {
        if (isModuleName(name)) this.dropped.set(name, String(why).slice(0, 500));
      }
    }
  }

  save() {
    if (this.file === null) return;
    const data = JSON.stringify({ version: FILE_VERSION, learned: this.learned, dropped: Object.fromEntries(this.dropped) });
    const temp = `${this.file}.${process.pid}.tmp`;
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      fs.writeFileSync(temp, data);
      fs.renameSync(temp, this.file);
    } catch {
      // A read-only store serves runs; it just does not remember.
      try { fs.rmSync(temp, { force: true }); } catch { /* nothing to remove */ }
    }
  }

  // One run's report: the names it imported that its zygote lacked.
  record(imported) {
    if (!this.options.learn || !Array.isArray(imported)) return;
    for (const name of new Set(imported)) {
      if (!isModuleName(name) || this.dropped.has(name)) continue;
      const known = this.counts.get(name);
      if (known === undefined && this.counts.size >= MAX_TRACKED) continue;
      const count = (known || 0) + 1;
      this.counts.set(name, count);
      if (count === this.options.minRuns && !this.offered.has(name)) this.ripe.add(name);
    }
  }

  // Names enough runs needed that no zygote has kept or dropped yet, most
  // needed first, within the module cap.
  candidates() {
    if (!this.options.learn) return [];
    const room = this.options.maxModules - this.learned.length;
    if (room <= 0) return [];
    const kept = new Set(this.learned);
    return [...this.counts.entries()]
      .filter(([name, count]) => count >= this.options.minRuns && !kept.has(name) && !this.dropped.has(name))
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, room)
      .map(([name]) => name);
  }

  // True when a new zygote would preload more than the current one.
  wantsNewZygote() {
    return this.ripe.size > 0 && this.learned.length < this.options.maxModules;
  }

  // The environment of the next zygote.
  env() {
    const trying = this.candidates();
    this.offered = new Set([...this.learned, ...trying]);
    this.ripe.clear();
    const env = [`PYCAGE_PRELOAD_GROWTH_KB=${this.options.maxGrowthMb * 1024}`];
    if (this.options.learn) env.push('PYCAGE_LEARN=1');
    if (this.learned.length > 0) env.push(`PYCAGE_PRELOAD_LEARNED=${this.learned.join(',')}`);
    if (trying.length > 0) env.push(`PYCAGE_PRELOAD_TRY=${trying.join(',')}`);
    return env;
  }

  // A zygote stderr line. A report line is folded in and returns true;
  // anything else returns false. The zygote imported bundle code, so the
  // line is checked like any other input.
  onZygoteLine(line) {
    if (typeof line !== 'string' || !line.startsWith(REPORT_PREFIX)) return false;
    let report;
    try {
      report = JSON.parse(line.slice(REPORT_PREFIX.length));
    } catch {
      return true;
    }
    if (!report || typeof report !== 'object') return true;
    let changed = false;
    for (const name of Array.isArray(report.loaded) ? report.loaded : []) {
      if (!isModuleName(name) || !this.offered.has(name) || this.learned.includes(name)) continue;
      if (this.learned.length >= this.options.maxModules) break;
      this.learned.push(name);
      changed = true;
    }
    for (const entry of Array.isArray(report.dropped) ? report.dropped : []) {
      if (!entry || !isModuleName(entry.name) || !this.offered.has(entry.name)) continue;
      if (this.dropped.size >= MAX_DROPPED) break;
      this.learned = this.learned.filter((name) => name !== entry.name);
      this.dropped.set(entry.name, String(entry.reason).slice(0, 500));
      this.counts.delete(entry.name);
      changed = true;
    }
    if (changed) {
      this.save();
      // A drop frees room: candidates that did not fit before may now.
      for (const name of this.candidates()) if (!this.offered.has(name)) this.ripe.add(name);
    }
    return true;
  }
}

module.exports = { PreloadLearner, checkPreloadOptions, isModuleName, DEFAULTS, REPORT_PREFIX };
