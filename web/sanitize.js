// The sanitizer bridge: the only way message text becomes DOM nodes.
//
// DOMPurify keeps exactly the formatting tags Sanctum allows and links to https only.
// Any other element is shown as text (its tag written out literally), never dropped silently and never live.
import DOMPurify from './vendor/purify.es.mjs';

/** The formatting tags members may use; everything else is shown as text. */
export const ALLOWED_TAGS = Object.freeze([
  'b', 'i', 'u', 's', 'em', 'strong', 'code', 'pre',
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

// Matches the start of an allowed opening or closing tag: `<b>`, `</b>`, `<a href=...>`, `<br/>`.
const ALLOWED_TAG_START = new RegExp(`^</?(?:${ALLOWED_TAGS.join('|')})(?=[\\s/>])`, 'i');
// Longer than the longest allowed tag start, `</blockquote` and the character after it.
const TAG_START_WINDOW = 16;

/**
 * Escapes every `<` that does not start an allowed tag, so the parser never builds any other element or comment,
 * and text such as `x<y and z>w` or `<div>` is shown exactly as the member typed it.
 * The element hook above stays as a second line of defence for whatever the parser still builds.
 * @param {string} text
 * @returns {string}
 */
export function escapeForeignMarkup(text) {
  return text.replace(/</g, (lt, offset) =>
    ALLOWED_TAG_START.test(text.slice(offset, offset + TAG_START_WINDOW)) ? lt : '&lt;');
}

/**
 * Turns a member's message text into a fragment holding only allowed formatting and plain text.
 * @param {string} text
 * @returns {DocumentFragment}
 */
export function renderFormatted(text) {
  const fragment = DOMPurify.sanitize(escapeForeignMarkup(String(text)), CONFIG);
  return document.importNode(fragment, true);
}
