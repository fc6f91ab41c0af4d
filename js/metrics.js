'use strict';

const { expected, isPlainObject, knownKeys } = require('./validate');

// sandbox.metrics(): counters and histograms in prom-client's own shape, so a
// host that uses prom-client registers them with no glue:
//
//   for (const metric of sandbox.metrics()) register.registerMetric(metric);
//
// Each metric has name, help, type, get() (a promise of
// { name, help, type, values: [{ value, labels, metricName? }], aggregator }),
// which is what prom-client's Registry reads, and reset(), which its
// resetMetrics() calls. A registry holds one metric per name, so several
// Sandboxes in one registry take a prefix each, as prom-client's own
// collectDefaultMetrics({ prefix, labels }) does. Prometheus over OpenTelemetry:
// ToolJet and most Node servers that expose /metrics use prom-client, and an
// OpenTelemetry host can bridge Prometheus metrics; the reverse needs an SDK.

// Seconds: warm runs take milliseconds, cold starts and installs seconds.
const TIME_BUCKETS = Object.freeze([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]);
const MEMORY_BUCKETS = Object.freeze([4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048].map((mb) => mb * 1024 * 1024));

function labelKey(labels) {
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

class Counter {
  constructor(name, help) {
    Object.assign(this, { name, help, type: 'counter', aggregator: 'sum', series: new Map() });
  }

  inc(labels = {}, by = 1) {
    const key = labelKey(labels);
    const entry = this.series.get(key) || { labels: { ...labels }, value: 0 };
    entry.value += by;
    this.series.set(key, entry);
  }

  reset() {
    this.series.clear();
  }

  async get() {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator,
      values: [...this.series.values()].map(({ labels, value }) => ({ value, labels: { ...labels } })) };
  }
}

class Histogram {
  constructor(name, help, buckets) {
    Object.assign(this, { name, help, type: 'histogram', aggregator: 'sum', buckets, series: new Map() });
  }

  observe(labels, value) {
    const key = labelKey(labels);
    let entry = this.series.get(key);
    if (entry === undefined) {
      entry = { labels: { ...labels }, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, entry);
    }
    this.buckets.forEach((le, i) => { if (value <= le) entry.counts[i] += 1; });
    entry.sum += value;
    entry.count += 1;
  }

  reset() {
    this.series.clear();
  }

  async get() {
    const values = [];
    for (const { labels, counts, sum, count } of this.series.values()) {
      this.buckets.forEach((le, i) => {
        values.push({ value: counts[i], labels: { ...labels, le }, metricName: `${this.name}_bucket` });
      });
      values.push({ value: count, labels: { ...labels, le: '+Inf' }, metricName: `${this.name}_bucket` });
      values.push({ value: sum, labels: { ...labels }, metricName: `${this.name}_sum` });
      values.push({ value: count, labels: { ...labels }, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

// The metrics of one Sandbox under other names and with constant labels; it
// shares the counts (and reset()) of the metric it shows.
class MetricView {
  constructor(metric, prefix, labels) {
    Object.assign(this, { name: prefix + metric.name, help: metric.help, type: metric.type,
      aggregator: metric.aggregator });
    Object.defineProperty(this, 'source', { value: { metric, prefix, labels } });
  }

  async get() {
    const { metric, prefix, labels } = this.source;
    const data = await metric.get();
    return { ...data, name: this.name, values: data.values.map((v) => ({
      ...v, labels: { ...labels, ...v.labels }, ...(v.metricName ? { metricName: prefix + v.metricName } : {}),
    })) };
  }

  reset() {
    this.source.metric.reset();
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const OWN_LABELS = ['tier', 'status', 'error_type', 'le'];

function checkOptions(options) {
  if (!isPlainObject(options)) throw expected('plain object', 'the options of metrics()', options);
  knownKeys(options, ['prefix', 'labels'], 'metrics()');
  const { prefix = '', labels = {} } = options;
  if (typeof prefix !== 'string' || (prefix !== '' && !METRIC_NAME.test(prefix))) {
    throw expected('string of letters, digits, _ and : (not starting with a digit), such as \'reports_\',',
      'metrics() prefix', prefix);
  }
  if (!isPlainObject(labels)) throw expected('plain object of label names to strings', 'metrics() labels', labels);
  for (const [name, value] of Object.entries(labels)) {
    if (!LABEL_NAME.test(name) || name.startsWith('__') || OWN_LABELS.includes(name)) {
      throw expected(`label name of letters, digits and _ (not starting with a digit or __, and none of ${OWN_LABELS.join(', ')}, which pycage sets)`,
        'a metrics() labels key', name);
    }
    if (typeof value !== 'string') throw expected('string', `metrics() labels.${name}`, value);
  }
  return { prefix, labels };
}

class SandboxMetrics {
  constructor() {
    this.runs = new Counter('pycage_runs_total', 'Python runs finished, by tier, status and error type');
    this.coldStarts = new Counter('pycage_cold_starts_total', 'Runs that waited for a warm interpreter to start');
    this.restarts = new Counter('pycage_interpreter_restarts_total', 'Warm interpreters that died after serving runs');
    this.wall = new Histogram('pycage_run_wall_seconds', 'Wall time of the run itself', TIME_BUCKETS);
    this.cpu = new Histogram('pycage_run_cpu_seconds', 'CPU time (user + system) of the run', TIME_BUCKETS);
    this.queue = new Histogram('pycage_run_queue_seconds', 'Host time before the run started (queue, cold start)',
      TIME_BUCKETS);
    this.memory = new Histogram('pycage_run_peak_memory_bytes', 'Peak resident memory of the run', MEMORY_BUCKETS);
  }

  // summary: the `run` event's object.
  recordRun(summary) {
    const labels = { tier: summary.tier };
    this.runs.inc({ ...labels, status: summary.status, error_type: summary.errorType || '' });
    if (summary.coldStart) this.coldStarts.inc(labels);
    this.wall.observe(labels, summary.wallMs / 1000);
    this.cpu.observe(labels, summary.cpuMs / 1000);
    this.queue.observe(labels, summary.queueMs / 1000);
    this.memory.observe(labels, summary.peakMemoryKb * 1024);
  }

  recordRestart() {
    this.restarts.inc();
  }

  // The same options give the same objects, so registering them again in one
  // registry is not a second metric of the same name.
  all(options = {}) {
    const { prefix, labels } = checkOptions(options);
    const base = [this.runs, this.coldStarts, this.restarts, this.wall, this.cpu, this.queue, this.memory];
    if (prefix === '' && Object.keys(labels).length === 0) return base;
    const key = JSON.stringify([prefix, Object.entries(labels).sort()]);
    this.views = this.views || new Map();
    if (!this.views.has(key)) this.views.set(key, base.map((m) => new MetricView(m, prefix, labels)));
    return this.views.get(key);
  }
}

module.exports = { SandboxMetrics, TIME_BUCKETS };
