// One check per front-end module, run inside the real page under the relay's CSP: sanitizer, commands, storage, words.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { openMember, startRelay, waitScreen } from './harness.mjs';

let relay;
let member;

before(async () => {
  relay = await startRelay();
  member = await openMember();
  await member.page.goto(`${relay.origin}/`);
  await waitScreen(member.page, 'home');
});

after(async () => {
  await member?.close();
  await relay?.stop();
});

test('sanitize.js keeps the allowed formatting, writes other markup out as text, and allows https links only', async () => {
  const cases = await member.page.evaluate(async () => {
    const { renderFormatted, ALLOWED_TAGS } = await import('/sanitize.js');
    const render = (text) => {
      const box = document.createElement('div');
      box.append(renderFormatted(text));
      return { html: box.innerHTML, text: box.textContent };
    };
    return {
      tags: ALLOWED_TAGS,
      formatting: render('<b>b</b><i>i</i><u>u</u><s>s</s><em>em</em><strong>st</strong><code>c</code><pre>p</pre>'),
      headings: render('<h1>1</h1><h6>6</h6><ul><li>a</li></ul><ol><li>b</li></ol><blockquote>q</blockquote>x<br>y<hr>'),
      script: render('<script>alert(1)</script>'),
      div: render('<div class="x">inside</div>'),
      https: render('<a href="https://example.org/a?b=c">ok</a>'),
      http: render('<a href="http://example.org/">plain</a>'),
      js: render('<a href="javascript:alert(1)">js</a>'),
      attributes: render('<b style="color:red" onclick="x()" title="t">b</b>'),
      plain: render('a < b && c > d'),
      comparison: render('x<y and z>w'),
      comment: render('<!-- hidden --><b>shown</b>'),
      unclosed: render('<b'),
      nested: render('<b>bold <img src=x onerror=alert(1)> still bold</b>'),
    };
  });
  assert.equal(cases.tags.length, 22);
  assert.equal(
    cases.formatting.html,
    '<b>b</b><i>i</i><u>u</u><s>s</s><em>em</em><strong>st</strong><code>c</code><pre>p</pre>',
  );
  assert.equal(cases.headings.html, '<h1>1</h1><h6>6</h6><ul><li>a</li></ul><ol><li>b</li></ol><blockquote>q</blockquote>x<br>y<hr>');
  assert.equal(cases.script.text, '<script>alert(1)</script>');
  assert.doesNotMatch(cases.script.html, /<script/);
  assert.equal(cases.div.text, '<div class="x">inside</div>');
  assert.equal(cases.https.html, '<a href="https://example.org/a?b=c" rel="noopener noreferrer nofollow" target="_blank">ok</a>');
  assert.equal(cases.http.html, '<a>plain</a>');
  assert.equal(cases.js.html, '<a>js</a>');
  assert.equal(cases.attributes.html, '<b>b</b>');
  assert.equal(cases.plain.text, 'a < b && c > d');
  assert.equal(cases.comparison.text, 'x<y and z>w');
  assert.equal(cases.comment.html, '&lt;!-- hidden --&gt;<b>shown</b>');
  assert.equal(cases.unclosed.text, '<b');
  assert.equal(cases.nested.html, '<b>bold &lt;img src=x onerror=alert(1)&gt; still bold</b>');
});

test('sanitize.js hands the parser allowed tags bare, keeping only a link\'s first href, read as the HTML tokenizer does', async () => {
  const rewritten = await member.page.evaluate(async () => {
    const { escapeForeignMarkup } = await import('/sanitize.js');
    return [
      '<u oncopy=alert()> Copy me</u>',
      '<b/onmouseover=alert(1)>slash</b>',
      '<I STYLE=color:red>upper</I>',
      '<strong title="a>b" onfocus=alert(1)>quoted gt</strong>',
      "<em title='x\"y' onclick=1>single</em>",
      '<a onclick=alert(1) href=https://example.org/ href="https://evil.invalid/">first href</a>',
      '<a href="https://example.org/?q=&quot;x&quot;">entity</a>',
      '<b onclick="never closed',
      '</b onclick=x>',
      '<bx>not b</bx>',
    ].map(escapeForeignMarkup);
  });
  assert.deepEqual(rewritten, [
    '<u> Copy me</u>',
    '<b>slash</b>',
    '<i>upper</i>',
    '<strong>quoted gt</strong>',
    '<em>single</em>',
    '<a href="https://example.org/">first href</a>',
    '<a href="https://example.org/?q=&quot;x&quot;">entity</a>',
    '&lt;b onclick="never closed',
    '</b>',
    '&lt;bx>not b&lt;/bx>',
  ]);
});

test('commands.js parses the slash commands and their usage errors', async () => {
  const parsed = await member.page.evaluate(async () => {
    const { parseCommand } = await import('/commands.js');
    return [
      'hello',
      '/purr bob meet at nine\nsharp',
      '/purr bob',
      '/kick bob',
      '/kick',
      '/exit see you',
      '/exit',
      '/stop',
      '/HELP',
      '/dance',
    ].map((text) => parseCommand(text));
  });
  assert.deepEqual(parsed, [
    null,
    { name: 'purr', alias: 'bob', text: 'meet at nine\nsharp' },
    { name: 'purr', error: 'Usage: /purr alias message' },
    { name: 'kick', alias: 'bob' },
    { name: 'kick', error: 'Usage: /kick alias' },
    { name: 'exit', text: 'see you' },
    { name: 'exit', text: '' },
    { name: 'stop' },
    { name: 'help' },
    { name: 'unknown', text: '/dance' },
  ]);
});

test('storage.js keeps the resume blob or the link and the unshared mark, and wipe leaves only the ended mark', async () => {
  const seen = await member.page.evaluate(async () => {
    const storage = await import('/storage.js');
    sessionStorage.clear();
    storage.saveResume('opaque-blob');
    const kept = storage.loadResume();
    storage.saveLink('http://x/#v1.a.b.1');
    const link = storage.loadLink();
    storage.markUnshared();
    const unshared = storage.isUnshared();
    storage.wipe({ ended: true });
    const afterWipe = Object.keys(sessionStorage);
    const ended = storage.sessionEnded();
    storage.clearEnded();
    return {
      kept,
      link,
      unshared,
      afterWipe,
      ended,
      endedAfterClear: storage.sessionEnded(),
      resume: storage.loadResume(),
      unsharedAfterWipe: storage.isUnshared(),
    };
  });
  assert.deepEqual(seen, {
    kept: 'opaque-blob',
    link: 'http://x/#v1.a.b.1',
    unshared: true,
    afterWipe: ['sanctum.ended'],
    ended: true,
    endedAfterClear: false,
    resume: null,
    unsharedAfterWipe: false,
  });
});

test('strings.js has plain words for every relay error code and every failure code of the core', async () => {
  const words = await member.page.evaluate(async () => {
    const { explain } = await import('/strings.js');
    const { ErrorCode, FailureCode } = await import('/codes.js');
    const codes = [...Object.values(ErrorCode), ...Object.values(FailureCode)];
    return {
      codes,
      known: codes.map((code) => explain(code, null)),
      unknown: explain('something_new', 'the relay said so'),
    };
  });
  assert.ok(words.codes.length >= 31, `${words.codes.length} codes`);
  const generic = 'Something went wrong. Try again.';
  for (const [index, text] of words.known.entries()) {
    assert.ok(text && text !== generic && /[.!]$/.test(text), `${words.codes[index]}: ${text}`);
  }
  assert.equal(words.unknown, 'the relay said so');
});
