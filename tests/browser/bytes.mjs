// Counts what a page downloads: the body bytes of every response as they came over the wire (compressed, as served),
// for the page and every Worker it starts. The byte-budget test and the browser bench share it.

/** How long `settle` waits at most for the requests in flight to finish. */
const SETTLE_MS = 10_000;

/**
 * Starts counting the responses of `page`'s browser context.
 * @param {import('playwright-core').Page} page
 */
export function pathBytes(page) {
  const files = [];
  const pending = [];
  let inFlight = 0;
  const context = page.context();
  context.on('request', () => {
    inFlight += 1;
  });
  context.on('requestfailed', () => {
    inFlight -= 1;
  });
  context.on('requestfinished', (request) => {
    pending.push(
      (async () => {
        try {
          const [sizes, response] = await Promise.all([request.sizes(), request.response()]);
          const headers = (await response?.allHeaders()) ?? {};
          // Chromium reports no body size for a Worker's own script; its Content-Length is the size sent, since the
          // relay sends every file, compressed or not, with its length.
          const length = Number(headers['content-length'] ?? 0);
          files.push({
            path: new URL(request.url()).pathname,
            bytes: sizes.responseBodySize || length,
            encoding: headers['content-encoding'] ?? 'identity',
          });
        } finally {
          inFlight -= 1;
        }
      })().catch(() => {}),
    );
  });
  return {
    /** Waits until no request is in flight and the size of every finished one is known. */
    async settle() {
      const until = Date.now() + SETTLE_MS;
      while (inFlight > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 25));
      await Promise.all(pending);
    },
    /** The bytes counted so far. */
    total() {
      return files.reduce((sum, file) => sum + file.bytes, 0);
    },
    /** The files counted so far, largest first. */
    files() {
      return [...files].sort((a, b) => b.bytes - a.bytes);
    },
  };
}
