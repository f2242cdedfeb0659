// @ts-check
// The Worker bridge: requests with ids and answers, plus events, between the page and the crypto Worker.
//
// Every key lives in the Worker. The page sends plain inputs (alias, password, text, file bytes) and receives
// plain outputs (aliases, fingerprints, message text) and opaque values it never looks inside (member handles,
// the resume blob).
import { workerUrl } from './trusted.js';

export class WorkerBridge {
  #worker;
  #next = 1;
  #pending = new Map();
  #listeners = new Map();
  #dead = false;

  constructor() {
    this.#worker = new Worker(workerUrl('worker.js'), { type: 'module', name: 'sanctum' });
    this.#worker.addEventListener('message', (event) => this.#receive(event.data));
    this.#worker.addEventListener('error', (event) => {
      event.preventDefault();
      this.#fail('worker', 'the encryption engine failed to start');
    });
    this.#worker.addEventListener('messageerror', () => this.#fail('worker', 'a message could not be read'));
  }

  /**
   * Sends one request and resolves with its result, or rejects with an Error carrying `.code`.
   * @param {string} op
   * @param {object} [args]
   * @param {Transferable[]} [transfer]
   */
  request(op, args = {}, transfer = []) {
    if (this.#dead) return Promise.reject(Object.assign(new Error('worker stopped'), { code: 'worker' }));
    const id = this.#next;
    this.#next += 1;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, op, args }, transfer);
    });
  }

  /** Calls `handler(data)` for every event named `name` from the Worker. */
  on(name, handler) {
    if (!this.#listeners.has(name)) this.#listeners.set(name, []);
    this.#listeners.get(name).push(handler);
  }

  /** Stops the Worker at once: its memory, keys included, goes with it. */
  terminate() {
    if (this.#dead) return;
    this.#dead = true;
    this.#worker.terminate();
    for (const { reject } of this.#pending.values()) {
      reject(Object.assign(new Error('worker stopped'), { code: 'cancelled' }));
    }
    this.#pending.clear();
  }

  get alive() {
    return !this.#dead;
  }

  #receive(message) {
    if (!message || typeof message !== 'object') return;
    if (typeof message.id === 'number') {
      const waiting = this.#pending.get(message.id);
      if (!waiting) return;
      this.#pending.delete(message.id);
      if (message.ok) waiting.resolve(message.result);
      else waiting.reject(Object.assign(new Error(message.error?.message ?? 'failed'), { code: message.error?.code ?? 'failed' }));
      return;
    }
    if (typeof message.event === 'string') this.#emit(message.event, message.data ?? {});
  }

  #emit(name, data) {
    for (const handler of this.#listeners.get(name) ?? []) {
      try {
        handler(data);
      } catch (error) {
        console.error('event handler failed', name, error);
      }
    }
  }

  #fail(code, message) {
    if (this.#dead) return;
    this.terminate();
    this.#emit('failed', { code, message });
  }
}
