// @ts-check
// The app's configuration: which relay to use, from web/config.json, never from a room link.

/**
 * The bytes of completed attachments a tab keeps for display and download; past it, the oldest are released and leave
 * a placeholder, so that a long room full of files cannot grow the tab's memory without end.
 */
const KEPT_ATTACHMENT_BYTES = 96 * 1024 * 1024;

const DEFAULTS = Object.freeze({ relay: null, testDeriveHoldMs: 0, keptAttachmentBytes: KEPT_ATTACHMENT_BYTES });

/** Loads config.json; a missing or broken file means the defaults (the relay at this page's origin). */
export async function loadConfig() {
  let file = {};
  try {
    const response = await fetch(new URL('config.json', import.meta.url), { cache: 'no-store', credentials: 'omit' });
    if (response.ok) file = await response.json();
  } catch {
    file = {};
  }
  /** @type {{relay: string | null, testDeriveHoldMs: number, keptAttachmentBytes: number, relayUrl?: string}} */
  const config = { ...DEFAULTS };
  if (typeof file.relay === 'string' && /^(wss?|https?):\/\//i.test(file.relay)) config.relay = file.relay;
  if (Number.isFinite(file.testDeriveHoldMs) && file.testDeriveHoldMs > 0) {
    config.testDeriveHoldMs = Math.min(60_000, file.testDeriveHoldMs);
  }
  if (Number.isFinite(file.keptAttachmentBytes) && file.keptAttachmentBytes > 0) {
    config.keptAttachmentBytes = Math.min(1024 * 1024 * 1024, Math.floor(file.keptAttachmentBytes));
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
