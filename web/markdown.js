// @ts-check
// Markdown as members type it, turned into markup for the sanitizer, which stays the only way text becomes DOM.
//
// marked works on strings alone and builds no DOM, so nothing here reaches an HTML parser. Its output, like any markup a
// member types by hand, then goes through sanitize.js: foreign tags are shown as text, allowed ones are written back
// bare, and DOMPurify keeps the allow-list. What marked would build outside that list (images, tables, task boxes) is
// shown as the text that was typed, never as a broken tag.
import { Marked } from './vendor/marked.esm.js';

/** @param {string} text */
const escapeHtml = (text) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** @param {{raw: string}} token */
const asTyped = (token) => escapeHtml(token.raw);

// The vendored module has no type declarations here; its API is marked's documented one.
const marked = new /** @type {any} */ (Marked)({
  async: false,
  gfm: true,
  // A chat line break is a line break.
  breaks: true,
});
marked.use({
  renderer: {
    // Strikethrough is <s>, which the allow-list has; <del> is not on it.
    del(/** @type {any} */ token) {
      return `<s>${this.parser.parseInline(token.tokens)}</s>`;
    },
    // Images travel as encrypted attachments, never as remote URLs that would leak members' addresses.
    image: asTyped,
    table: asTyped,
    checkbox(/** @type {{checked: boolean}} */ { checked }) {
      return checked ? '[x] ' : '[ ] ';
    },
  },
});

/**
 * Turns a member's Markdown (with any HTML formatting tags it holds) into markup for `renderFormatted`.
 * Supported: **bold**, _italic_, ~~struck~~, `code`, fenced and indented code blocks, lists, quotes, headings,
 * links and bare https:// links; the HTML tags of the allow-list keep working inside and around it.
 * @param {string} text
 * @returns {string}
 */
export function markdownToMarkup(text) {
  return String(marked.parse(String(text))).trim();
}
