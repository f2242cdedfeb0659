// @ts-check
// The page's side of the strength Worker: started by the create screen only, after it is painted.
import { workerUrl } from './trusted.js';

/** @typedef {{score: number, acceptable: boolean, feedback: string}} Strength */

/** @type {Worker | null} */
let worker = null;
let next = 1;
/** @type {Map<number, {resolve: (value: Strength) => void, reject: (error: Error) => void}>} */
const pending = new Map();

/**
 * @param {string} code
 * @param {string} message
 */
function fail(code, message) {
  return Object.assign(new Error(message), { code });
}

/** @param {Error} error */
function rejectAll(error) {
  for (const { reject } of pending.values()) reject(error);
  pending.clear();
}

/** @returns {Worker} */
function start() {
  if (worker) return worker;
  worker = new Worker(workerUrl('strength-worker.js'), { type: 'module', name: 'sanctum-strength' });
  worker.addEventListener('message', ({ data }) => {
    const waiting = pending.get(data?.id);
    if (!waiting) return;
    pending.delete(data.id);
    if (data.ok) waiting.resolve(data.result);
    else waiting.reject(fail(data.error?.code ?? 'strength', data.error?.message ?? 'failed'));
  });
  worker.addEventListener('error', (event) => {
    event.preventDefault();
    // A Worker that failed to load is started again by the next estimate.
    worker?.terminate();
    worker = null;
    rejectAll(fail('worker', 'the password strength estimator failed to start'));
  });
  return worker;
}

/** Starts fetching and compiling the estimator once the screen has been painted, so that typing never waits for it. */
export function preload() {
  requestAnimationFrame(() => setTimeout(start, 0));
}

/**
 * The estimate for a room's password: {score, acceptable, feedback}; the alias and room name count against it.
 * @param {string} password
 * @returns {Promise<Strength>}
 */
export function estimate(password, alias = '', roomName = '') {
  const id = next;
  next += 1;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    start().postMessage({ id, password, alias, roomName });
  });
}
