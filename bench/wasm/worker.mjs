// Times the client core's operations inside a Worker, where the app runs them, with the wasm build's bench exports.
//
// Each operation is prepared in batches outside the timed region (BenchFixture.prepare) and run inside it
// (BenchFixture.run), exactly as the native Criterion bench does with the same Rust code.
import init, { BenchFixture, bench_ops } from '/pkg/sanctum.js';

/** A batch should take at least this long, so that the timer's resolution does not matter. */
const BATCH_MS = 25;
/** Timed batches per operation, after one warm-up batch. */
const SAMPLES = 25;
/** Argon2id takes a good part of a second per run: fewer, single-run samples. */
const SLOW_SAMPLES = 5;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function timeBatch(fixture, n) {
  fixture.prepare(n);
  const started = performance.now();
  const done = fixture.run();
  const elapsed = performance.now() - started;
  if (done !== n) throw new Error(`only ${done} of ${n} operations succeeded`);
  return elapsed;
}

function measure(op) {
  const fixture = new BenchFixture(op, Date.now());
  try {
    let n = 1;
    // Grow the batch until it is long enough to time; the first batches double as the warm-up.
    while (timeBatch(fixture, n) < BATCH_MS && n < 1 << 16) n *= 2;
    const samples = op.startsWith('argon2') ? SLOW_SAMPLES : SAMPLES;
    const perOpNs = [];
    for (let i = 0; i < samples; i += 1) perOpNs.push((timeBatch(fixture, n) * 1e6) / n);
    return { median_ns: median(perOpNs), min_ns: Math.min(...perOpNs), max_ns: Math.max(...perOpNs), samples, per_sample: n };
  } finally {
    fixture.free();
  }
}

self.onmessage = async (event) => {
  try {
    await init();
    const ops = event.data.ops ?? bench_ops();
    const results = {};
    for (const op of ops) results[op] = measure(op);
    self.postMessage({ ops: results, isolated: self.crossOriginIsolated });
  } catch (error) {
    self.postMessage({ error: String(error?.stack ?? error) });
  }
};
