// @ts-check
// The app's configuration: which relay to use, from web/config.json, never from a room link.

const DEFAULTS = Object.freeze({ relay: null, testDeriveHoldMs: 0 });

/** Loads config.json; a missing or broken file means the defaults (the relay at this page's origin). */
export async function loadConfig() {
  let file = {};
  try {
    const response = await fetch(new URL('config.json', import.meta.url), { cache: 'no-store', credentials: 'omit' });
    if (response.ok) file = await response.json();
  } catch {
    file = {};
  }
  /** @type {{relay: string | null, testDeriveHoldMs: number, relayUrl?: string}} */
  const config = { ...DEFAULTS };
  if (typeof file.relay === 'string' && /^(wss?|https?):\/\//i.test(file.relay)) config.relay = file.relay;
  if (Number.isFinite(file.testDeriveHoldMs) && file.testDeriveHoldMs > 0) {
    config.testDeriveHoldMs = Math.min(60_000, file.testDeriveHoldMs);
  }
  config.relayUrl = relayUrl(config.relay);
  return config;
}

/** The WebSocket URL of the relay: the configured one, or /ws at the page's own origin. */
function relayUrl(configured) {
  const base = configured ? new URL(configured) : new URL('/ws', location.href);
  if (base.protocol === 'http:') base.protocol = 'ws:';
  if (base.protocol === 'https:') base.protocol = 'wss:';
  if (!configured) base.pathname = '/ws';
  base.hash = '';
  return base.href;
}
