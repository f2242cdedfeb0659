// @ts-check
// The app's own Trusted Types policy, "sanctum": it only ever vouches for the app's three Worker scripts.
//
// The relay's CSP says `require-trusted-types-for 'script'; trusted-types sanctum dompurify`,
// so a Worker can only be started from a URL this policy created; it creates no HTML and no script text.

const WORKER_SCRIPTS = new Set(['worker.js', 'derive-worker.js', 'strength-worker.js']);

function checkScriptUrl(input) {
  const url = new URL(input, self.location.href);
  const name = url.pathname.split('/').pop();
  if (url.origin !== self.location.origin || !WORKER_SCRIPTS.has(name) || url.search || url.hash) {
    throw new TypeError('refused a script URL that is not one of the app\'s Worker scripts');
  }
  return url.href;
}

const policy = /** @type {any} */ (self).trustedTypes?.createPolicy('sanctum', { createScriptURL: checkScriptUrl }) ?? {
  createScriptURL: checkScriptUrl,
};

/** A Worker script URL that the Trusted Types policy allows, for the app's own Worker scripts only. */
export function workerUrl(name) {
  return policy.createScriptURL(new URL(name, import.meta.url).href);
}
