// @ts-check
// The footer's build digest: the first 16 hex digits of the SHA-256 of the manifest.json served with this page,
// so that a person can compare it at a glance with the digest the operator published (`sanctum verify` prints it).

/** How many hex digits of the digest the footer shows. */
export const SHORT_DIGEST_HEX = 16;

/**
 * The short digest of the manifest's bytes.
 * @param {ArrayBuffer} bytes
 * @returns {Promise<string>}
 */
export async function shortDigest(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('').slice(0, SHORT_DIGEST_HEX);
}

/**
 * Fetches manifest.json and shows its short digest in `node`; shows nothing when the bundle has no manifest.
 * @param {HTMLElement} node
 * @param {(digest: string) => string} label
 */
export async function showManifestDigest(node, label) {
  try {
    const response = await fetch('manifest.json', { cache: 'no-store' });
    if (!response.ok) return;
    node.textContent = label(await shortDigest(await response.arrayBuffer()));
  } catch {
    // A missing manifest (a development tree) only leaves the footer without a digest.
  }
}
