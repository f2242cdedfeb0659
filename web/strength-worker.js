// @ts-check
// The create screen's strength Worker: the password strength estimator, a wasm module of its own.
//
// zxcvbn's dictionaries are most of that module's size and only the create screen needs them, so joiners never fetch
// it. It runs here, off the page's thread, because scoring a long password takes a few milliseconds.
import init, { password_strength } from './pkg/strength.js';

const ready = init({ module_or_path: new URL('./pkg/strength_bg.wasm', import.meta.url) });

self.addEventListener('message', async (/** @type {MessageEvent} */ event) => {
  const { id, password, alias, roomName } = event.data ?? {};
  try {
    await ready;
    const result = password_strength(String(password ?? ''), String(alias ?? ''), String(roomName ?? ''));
    self.postMessage({ id, ok: true, result });
  } catch (error) {
    self.postMessage({ id, ok: false, error: { code: 'strength', message: String(error?.message ?? error) } });
  }
});
