// @ts-check
// Generated room passphrases: words drawn uniformly from a maintained word list with the browser's CSPRNG.
//
// Loaded by the create screen only, on the first press of Generate, so a joiner never downloads the list. The list is
// the BIP39 English list of 2,048 words vendored from `@scure/bip39` (audited, maintained): distinct, common, 3 to 8
// letters, none with a hyphen, at 5.3 KB as served. The EFF large list (7,772 words, 12.9 bits a word) costs 22 KB as
// served, which would take the create screen past its 700 KB budget; seven BIP39 words give the same strength as six
// EFF words. The drawing is here, in a few lines that can be read whole.
import { wordlist } from './vendor/bip39-english.js';

/** Words in a generated passphrase: 7 × log2(2,048) = 77 bits, far past what an offline guesser can cover. */
export const PASSPHRASE_WORDS = 7;

/** The list's size, exposed so that a test can check the entropy the page claims. */
export const WORD_COUNT = wordlist.length;

/**
 * A uniform integer in [0, bound) from `crypto.getRandomValues`, by rejection sampling: 32-bit draws at or above
 * the largest multiple of `bound` are thrown away, so no word is more likely than another (a plain `% bound` would
 * favour the first words of a list whose size does not divide 2^32).
 * @param {number} bound at least 1, at most 2^32
 */
export function uniform(bound) {
  const limit = 2 ** 32 - (2 ** 32 % bound);
  const draw = new Uint32Array(1);
  for (;;) {
    crypto.getRandomValues(draw);
    if (draw[0] < limit) return draw[0] % bound;
  }
}

/** A fresh passphrase: PASSPHRASE_WORDS words joined by hyphens. */
export function generatePassphrase() {
  const words = [];
  for (let i = 0; i < PASSPHRASE_WORDS; i += 1) words.push(wordlist[uniform(wordlist.length)]);
  return words.join('-');
}
