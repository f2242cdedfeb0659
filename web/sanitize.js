// @ts-check
// The sanitizer bridge: the only way message text becomes DOM nodes.
//
// DOMPurify keeps exactly the formatting tags Sanctum allows and links to https only.
// Any other element is shown as text (its tag written out literally), never dropped silently and never live.
import DOMPurify from './vendor/purify.es.mjs';

/** The formatting tags members may use; everything else is shown as text. */
export const ALLOWED_TAGS = Object.freeze([
  'p', 'b', 'i', 'u', 's', 'em', 'strong', 'code', 'pre',
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6',
  'ul', 'ol', 'li', 'blockquote', 'br', 'hr', 'a',
]);

const ALLOWED = new Set(ALLOWED_TAGS);
const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr']);
const HTTPS_ONLY = /^https:\/\/[^\s]+$/i;

const CONFIG = Object.freeze({
  ALLOWED_TAGS: [...ALLOWED_TAGS],
  ALLOWED_ATTR: ['href'],
  ALLOWED_URI_REGEXP: /^https:/i,
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  // Keep the text inside every removed element (script and style included): it is shown as inert text.
  KEEP_CONTENT: true,
  FORBID_CONTENTS: [],
  // Parse everything into <body>, so that a leading <script>, <style> or <meta> is shown as text rather than
  // hoisted into the parser's <head> and dropped.
  FORCE_BODY: true,
  RETURN_DOM_FRAGMENT: true,
  USE_PROFILES: false,
});

function startTagText(element) {
  const name = element.localName;
  const parts = [name];
  for (const attribute of Array.from(element.attributes)) {
    parts.push(attribute.value === '' ? attribute.name : `${attribute.name}="${attribute.value}"`);
  }
  return `<${parts.join(' ')}>`;
}

// Writes a disallowed element's tags out as text around its content, which DOMPurify then keeps in its place.
DOMPurify.addHook('uponSanitizeElement', (node, data) => {
  if (node.nodeType !== 1 || !node.parentNode || node.nodeName === 'BODY') return;
  if (ALLOWED.has(data.tagName)) return;
  const doc = node.ownerDocument;
  node.parentNode.insertBefore(doc.createTextNode(startTagText(node)), node);
  if (!VOID.has(node.localName)) {
    node.parentNode.insertBefore(doc.createTextNode(`</${node.localName}>`), node.nextSibling);
  }
});

// A link keeps its https target and opens outside the app without telling the target where it came from.
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.nodeName !== 'A') return;
  const href = node.getAttribute('href');
  if (href === null || !HTTPS_ONLY.test(href.trim())) {
    node.removeAttribute('href');
    return;
  }
  node.setAttribute('rel', 'noopener noreferrer nofollow');
  node.setAttribute('target', '_blank');
});

const HTML_SPACE = new Set(['\t', '\n', '\f', '\r', ' ']);
const ASCII_ALPHA = /^[A-Za-z]$/;

/**
 * Reads the tag that starts at `text[at] === '<'` the way the HTML tokenizer does (tag open, tag name, attribute name
 * and value states, self-closing), returning its name, whether it is an end tag, its first `href`, and where it ends;
 * null when no tag starts there or the text ends inside it.
 * @param {string} text
 * @param {number} at
 * @returns {{name: string, end: boolean, href: string | null, next: number} | null}
 */
function readTag(text, at) {
  let i = at + 1;
  const end = text[i] === '/';
  if (end) i += 1;
  if (!ASCII_ALPHA.test(text[i] ?? '')) return null;
  let name = '';
  while (i < text.length && !HTML_SPACE.has(text[i]) && text[i] !== '/' && text[i] !== '>') name += text[i++];
  /** @type {string | null} */
  let href = null;
  let seenHref = false;
  for (;;) {
    while (i < text.length && (HTML_SPACE.has(text[i]) || text[i] === '/')) i += 1;
    if (i >= text.length) return null;
    if (text[i] === '>') return { name: name.toLowerCase(), end, href, next: i + 1 };
    // An attribute name runs to a space, '/', '>' or '='; a leading '=' belongs to it.
    let attribute = text[i++];
    while (i < text.length && !HTML_SPACE.has(text[i]) && !'/>='.includes(text[i])) attribute += text[i++];
    while (i < text.length && HTML_SPACE.has(text[i])) i += 1;
    /** @type {string | null} */
    let value = null;
    if (text[i] === '=') {
      i += 1;
      while (i < text.length && HTML_SPACE.has(text[i])) i += 1;
      const quote = text[i];
      if (quote === '"' || quote === "'") {
        const close = text.indexOf(quote, i + 1);
        if (close < 0) return null;
        value = text.slice(i + 1, close);
        i = close + 1;
      } else {
        const start = i;
        while (i < text.length && !HTML_SPACE.has(text[i]) && text[i] !== '>') i += 1;
        value = text.slice(start, i);
      }
    }
    // As in HTML, the first of several attributes with one name wins.
    if (attribute.toLowerCase() === 'href' && !seenHref) {
      seenHref = true;
      href = value ?? '';
    }
  }
}

/**
 * Rewrites a member's text so that the HTML parser can build nothing but the allowed formatting, without attributes.
 *
 * Every `<` that does not start an allowed tag becomes `&lt;`, so other elements and comments are shown exactly as
 * typed (`x<y and z>w`, `<div>`). Each allowed tag is written back bare, keeping only a link's `href`: no event
 * handler, style or other attribute ever reaches a parser. This matters because every document Chromium parses in
 * this page, even an inert DOMParser or <template> one, runs the CSP's inline checks on the attributes it builds.
 * DOMPurify still sanitizes the result, and its element hook below still writes out anything else it meets.
 * @param {string} text
 * @returns {string}
 */
export function escapeForeignMarkup(text) {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    if (lt < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, lt);
    const tag = readTag(text, lt);
    if (!tag || !ALLOWED.has(tag.name)) {
      out += '&lt;';
      i = lt + 1;
      continue;
    }
    if (tag.end) out += `</${tag.name}>`;
    else if (tag.name === 'a' && tag.href !== null) out += `<a href="${tag.href.replace(/"/g, '&quot;')}">`;
    else out += `<${tag.name}>`;
    i = tag.next;
  }
  return out;
}

/**
 * Turns a member's message text into a fragment holding only allowed formatting and plain text.
 * @param {string} text
 * @returns {DocumentFragment}
 */
export function renderFormatted(text) {
  // The vendored module has no type declarations; with RETURN_DOM_FRAGMENT its answer is a DocumentFragment.
  const fragment = /** @type {DocumentFragment} */ (/** @type {any} */ (DOMPurify).sanitize(escapeForeignMarkup(String(text)), CONFIG));
  return document.importNode(fragment, true);
}
