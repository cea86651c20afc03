import { describe, expect, it } from 'vitest';
import { emojiSrc, linkHref, sanitizeChatHtml } from './chat-sanitize';

const ORIGIN = 'http://localhost:3000';

function clean(html: string): string {
  const div = document.createElement('div');
  div.append(sanitizeChatHtml(html, document, ORIGIN));
  return div.innerHTML;
}

function tree(html: string): HTMLElement {
  const div = document.createElement('div');
  div.append(sanitizeChatHtml(html, document, ORIGIN));
  return div;
}

const ALLOWED = new Set(['P', 'BR', 'STRONG', 'EM', 'CODE', 'PRE', 'A', 'IMG']);
const ATTRIBUTES: Record<string, string[]> = {
  A: ['href', 'rel', 'target'],
  IMG: ['src', 'alt', 'title', 'class', 'loading'],
};

/** Payloads that must come out inert, whatever the server let through. */
const XSS: string[] = [
  '<script>alert(1)</script>',
  '<SCRIPT SRC=//evil.example/x.js></SCRIPT>',
  '<p>hi<script>alert(1)</script></p>',
  '<img src=x onerror=alert(1)>',
  '<img src="/img/emoji/ok.png" onerror="alert(1)" onload="alert(2)">',
  '<img src="javascript:alert(1)">',
  '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
  '<img src="https://evil.example/img/emoji/x.png">',
  '<img src="//evil.example/img/emoji/x.png">',
  '<img src="/img/emoji/../../api/admin/x">',
  '<img src="/img/emojix/x.png">',
  '<img srcset="https://evil.example/a.png 1x" src="/img/emoji/a.png">',
  '<a href="javascript:alert(1)">x</a>',
  '<a href=" JaVa\tScRiPt:alert(1)">x</a>',
  '<a href="&#106;avascript:alert(1)">x</a>',
  '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
  '<a href="vbscript:msgbox(1)">x</a>',
  '<a href="https://ok.example" onclick="alert(1)" style="position:fixed">x</a>',
  '<svg onload=alert(1)><circle r=1></circle></svg>',
  '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
  '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
  '<iframe src="javascript:alert(1)"></iframe>',
  '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
  '<object data="javascript:alert(1)"></object><embed src="x.swf">',
  '<form action="javascript:alert(1)"><button>go</button></form>',
  '<input autofocus onfocus=alert(1)>',
  '<details open ontoggle=alert(1)>',
  '<body onload=alert(1)>',
  '<style>*{background:url(javascript:alert(1))}</style>',
  '<link rel=stylesheet href=//evil.example/x.css>',
  '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
  '<base href="//evil.example/">',
  '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
  '<template><img src=x onerror=alert(1)></template>',
  '<video><source onerror=alert(1)></video><audio src=x onerror=alert(1)>',
  '<p style="background:url(javascript:alert(1))" class="x" id="y">styled</p>',
  '<div onmouseover="alert(1)">hover</div>',
  '"><img src=x onerror=alert(1)>',
  '<!--<img src=x onerror=alert(1)>-->',
  '<![CDATA[<img src=x onerror=alert(1)>]]>',
  '<a href="https://ok.example"><img src=x onerror=alert(1)></a>',
  '<strong onclick="alert(1)"><em onmouseover="alert(2)">x</em></strong>',
  '<pre><code class="language-js" onclick="alert(1)">x</code></pre>',
];

describe('sanitizeChatHtml against XSS payloads', () => {
  it.each(XSS)('%s comes out inert', (payload) => {
    const div = tree(payload);
    for (const el of Array.from(div.querySelectorAll('*'))) {
      expect(ALLOWED.has(el.tagName), `tag ${el.tagName}`).toBe(true);
      const allowed = ATTRIBUTES[el.tagName] ?? [];
      for (const attr of Array.from(el.attributes)) {
        expect(allowed, `${el.tagName}[${attr.name}]`).toContain(attr.name);
      }
      if (el.tagName === 'A') {
        expect(el.getAttribute('href')).toMatch(/^https?:\/\//);
        expect(el.getAttribute('rel')).toBe('nofollow noopener noreferrer');
        expect(el.getAttribute('target')).toBe('_blank');
      }
      if (el.tagName === 'IMG') expect(el.getAttribute('src')).toMatch(/^\/img\/emoji\/[^/]/);
    }
    expect(div.innerHTML.toLowerCase()).not.toMatch(/javascript:|vbscript:|data:text|<script|onerror=|onload=/);
  });
});

describe('sanitizeChatHtml keeps what Owncast renders', () => {
  it('keeps paragraphs and inline formatting', () => {
    expect(clean('<p>hello <strong>bold</strong> <em>it</em> <code>x</code><br>next</p>')).toBe(
      '<p>hello <strong>bold</strong> <em>it</em> <code>x</code><br>next</p>',
    );
    expect(clean('<pre><code>a &lt; b</code></pre>')).toBe('<pre><code>a &lt; b</code></pre>');
  });

  it('makes links open safely in a new tab', () => {
    expect(clean('<p><a href="https://owncast.online" rel="noreferrer" target="_blank">site</a></p>')).toBe(
      '<p><a href="https://owncast.online/" rel="nofollow noopener noreferrer" target="_blank">site</a></p>',
    );
  });

  it('keeps emoji images from /img/emoji/ with their alt text', () => {
    expect(clean('<p><img src="/img/emoji/blob/party.gif" alt=":party:" title=":party:"></p>')).toBe(
      '<p><img src="/img/emoji/blob/party.gif" alt=":party:" title=":party:" class="emoji" loading="lazy"></p>',
    );
    expect(clean(`<img src="${ORIGIN}/img/emoji/a.png" alt="a">`)).toContain('src="/img/emoji/a.png"');
  });

  it('replaces other images with their alt text', () => {
    expect(clean('<p><img src="https://evil.example/a.png" alt="[pic]"></p>')).toBe('<p>[pic]</p>');
  });

  it('unwraps unknown tags but keeps their text, and escapes text', () => {
    expect(clean('<div><span class="x">a</span> <b>b</b></div>')).toBe('a b');
    expect(clean('<p>1 &lt; 2 &amp; &lt;script&gt;</p>')).toBe('<p>1 &lt; 2 &amp; &lt;script&gt;</p>');
  });

  it('flattens absurd nesting', () => {
    const deep = '<em>'.repeat(200) + 'x' + '</em>'.repeat(200);
    expect(tree(deep).textContent).toBe('x');
    expect(tree(deep).querySelectorAll('em').length).toBeLessThanOrEqual(40);
  });

  it('returns nothing for non-strings', () => {
    expect(sanitizeChatHtml(undefined, document, ORIGIN).childNodes).toHaveLength(0);
    expect(sanitizeChatHtml(42, document, ORIGIN).childNodes).toHaveLength(0);
  });
});

describe('URL checks', () => {
  it('emojiSrc accepts only same-origin /img/emoji/', () => {
    expect(emojiSrc('/img/emoji/a.png', ORIGIN)).toBe('/img/emoji/a.png');
    expect(emojiSrc('img/emoji/a.png', ORIGIN)).toBe('/img/emoji/a.png');
    expect(emojiSrc('/img/emoji/../x.png', ORIGIN)).toBeNull();
    expect(emojiSrc('/img/emoji', ORIGIN)).toBeNull();
    expect(emojiSrc('https://other.example/img/emoji/a.png', ORIGIN)).toBeNull();
    expect(emojiSrc('data:image/png;base64,AA', ORIGIN)).toBeNull();
    expect(emojiSrc(null, ORIGIN)).toBeNull();
  });

  it('linkHref accepts http(s) only', () => {
    expect(linkHref('https://a.example/x?y#z', ORIGIN)).toBe('https://a.example/x?y#z');
    expect(linkHref('/page', ORIGIN)).toBe(`${ORIGIN}/page`);
    expect(linkHref('mailto:a@b.c', ORIGIN)).toBeNull();
    expect(linkHref('java\nscript:alert(1)', ORIGIN)).toBeNull();
    expect(linkHref('', ORIGIN)).toBeNull();
  });
});
