// @ts-check
// A short-lived Worker that stretches the room password with Argon2id (64 MiB) and then ends.
//
// WebAssembly memory never shrinks, so the 64 MiB that Argon2 needs live in this Worker's own wasm instance and are
// released when the parent Worker terminates it. It posts back the room secrets (as a resume blob without an alias), which go to the parent Worker only.
import init, { derive_room_secrets } from './pkg/sanctum.js';

self.addEventListener('message', async (/** @type {MessageEvent} */ event) => {
  const { module, link, password, holdMs } = event.data ?? {};
  try {
    // The parent Worker sends its compiled module: a new instance of it, with its own memory, costs no download.
    await init({ module_or_path: module });
    // A test-only hold (testDeriveHoldMs in config.json) keeps this Worker busy, as a slow device would be, so that a
    // browser test can show that the page still answers clicks during a derivation.
    if (holdMs > 0) {
      const until = performance.now() + holdMs;
      while (performance.now() < until) {
        /* Busy on purpose: this is what a long Argon2 run looks like from the page. */
      }
    }
    const secrets = derive_room_secrets(link, password, Date.now());
    self.postMessage({ ok: true, secrets });
  } catch (error) {
    self.postMessage({ ok: false, code: error?.code ?? 'derive', message: String(error?.message ?? error) });
  }
});
