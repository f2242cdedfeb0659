// Starts the bench Worker and publishes its answer as window.benchResult for the driver (run.mjs) to read.
const worker = new Worker(new URL('./worker.mjs', import.meta.url), { type: 'module' });
const ops = new URLSearchParams(location.search).get('ops')?.split(',') ?? null;
worker.onmessage = (event) => {
  window.benchResult = event.data;
};
worker.onerror = (event) => {
  window.benchResult = { error: `worker failed: ${event.message}` };
};
worker.postMessage({ ops });
