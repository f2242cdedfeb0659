// Writes Subresource Integrity into web/index.html for `cargo xtask build-web`: the SHA-384 of the page's module
// script, of its stylesheet, and a `<link rel="modulepreload" integrity>` for every module the page imports statically.
//
// An import carries no integrity of its own, and an import map that could give it one must be an inline script, which
// the app's Content-Security-Policy forbids. A modulepreload's integrity is checked on the preload's fetch, and holds
// for the import only while that fetch is in flight: Chromium keeps no failed fetch in its module map and fetches a
// refused module again for the import (docs/threat-model.md says what is and is not pinned). Imports are found by
// es-module-lexer, which skips comments and strings; dynamic imports and Workers are left out. The file is rewritten
// in place, the same way every time, so that two builds of the same source write the same bytes.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';
import { init, parse } from 'es-module-lexer';

const root = process.argv[2];
if (!root) throw new Error('usage: node xtask/integrity.mjs <web dir>');

const ALGORITHM = 'sha384';
const PRELOAD = /^[ \t]*<link rel="modulepreload"[^>]*>\r?\n/gm;
const SCRIPT = /<script type="module" src="([^"]+)"[^>]*><\/script>/g;
const STYLESHEET = /<link rel="stylesheet" href="([^"]+)"[^>]*>/g;

/** @param {string} path a path relative to the web dir, with forward slashes */
function integrity(path) {
  const digest = createHash(ALGORITHM).update(readFileSync(join(root, path))).digest('base64');
  return `${ALGORITHM}-${digest}`;
}

/**
 * The modules `entry` imports statically, itself left out, directly or through others, sorted.
 * @param {string} entry
 */
function staticGraph(entry) {
  const seen = new Set([entry]);
  const queue = [entry];
  while (queue.length > 0) {
    const path = /** @type {string} */ (queue.shift());
    const [imports] = parse(readFileSync(join(root, path), 'utf8'), path);
    for (const found of imports) {
      // A static import, `export ... from` included; a dynamic import() and import.meta are of other types.
      if (found.type !== 'static' && found.type !== 'reexport-star') continue;
      const { specifier } = found;
      if (!specifier || !(specifier.startsWith('./') || specifier.startsWith('../'))) {
        throw new Error(`${path} imports ${JSON.stringify(specifier)}: the page's modules import relative paths only`);
      }
      const resolved = normalize(join(dirname(path), specifier)).split(sep).join('/');
      if (resolved.startsWith('../')) {
        throw new Error(`${path} imports ${specifier}, outside the web app`);
      }
      if (!seen.has(resolved)) {
        seen.add(resolved);
        queue.push(resolved);
      }
    }
  }
  seen.delete(entry);
  return [...seen].sort();
}

await init;
const indexPath = join(root, 'index.html');
const original = readFileSync(indexPath, 'utf8');
let html = original.replace(PRELOAD, '');

const scripts = [...html.matchAll(SCRIPT)];
if (scripts.length !== 1) {
  throw new Error(`index.html must load exactly one module script, found ${scripts.length}`);
}
const [tag, entry] = scripts[0];
const modules = staticGraph(entry);
const indent = /** @type {string} */ (/[ \t]*$/.exec(html.slice(0, html.indexOf(tag))))[0];
const preloads = modules
  .map((path) => `<link rel="modulepreload" href="${path}" integrity="${integrity(path)}">\n${indent}`)
  .join('');
html = html.replace(tag, `${preloads}<script type="module" src="${entry}" integrity="${integrity(entry)}"></script>`);
html = html.replace(STYLESHEET, (_, href) => `<link rel="stylesheet" href="${href}" integrity="${integrity(href)}">`);

if (html !== original) writeFileSync(indexPath, html);
console.log(`build-web: index.html pins ${entry} and the ${modules.length} modules it imports with ${ALGORITHM} integrity`);
