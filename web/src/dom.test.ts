import { describe, expect, it } from 'vitest';
import { isSafeUrl, sanitizeHtml } from './dom';

function clean(html: string): string {
  const div = document.createElement('div');
  div.append(sanitizeHtml(html));
  return div.innerHTML;
}

describe('sanitizeHtml', () => {
  it('keeps ordinary content', () => {
    expect(clean('<h2>Hi</h2><p>Welcome <a href="https://x.example/">here</a></p>')).toBe(
      '<h2>Hi</h2><p>Welcome <a href="https://x.example/">here</a></p>',
    );
  });

  it('removes scripts, handlers and javascript: URLs', () => {
    const out = clean(
      '<script>alert(1)</script><img src="x" onerror="alert(1)"><a href=" JaVa\nScRiPt:alert(1)">x</a>' +
        '<style>body{}</style><object data="x"></object><!-- c -->',
    );
    expect(out).toBe('<img src="x"><a>x</a>');
  });

  it('keeps https iframes sandboxed and drops others', () => {
    const out = clean('<iframe src="https://video.example/embed/1"></iframe><iframe src="javascript:1"></iframe><iframe srcdoc="<b>"></iframe>');
    const div = document.createElement('div');
    div.innerHTML = out;
    const frames = div.querySelectorAll('iframe');
    expect(frames).toHaveLength(1);
    expect(frames[0].getAttribute('sandbox')).toContain('allow-scripts');
    expect(frames[0].hasAttribute('srcdoc')).toBe(false);
  });

  it('adds rel=noopener to new-window links', () => {
    expect(clean('<a href="/x" target="_blank">x</a>')).toContain('rel="noopener noreferrer"');
  });
});

describe('isSafeUrl', () => {
  it('allows relative, http(s) and mailto, and data images only where asked', () => {
    expect(isSafeUrl('/logo')).toBe(true);
    expect(isSafeUrl('https://a.example')).toBe(true);
    expect(isSafeUrl('mailto:a@b.c')).toBe(true);
    expect(isSafeUrl('data:image/png;base64,AA')).toBe(false);
    expect(isSafeUrl('data:image/png;base64,AA', true)).toBe(true);
    expect(isSafeUrl('data:text/html;base64,AA', true)).toBe(false);
    expect(isSafeUrl('vbscript:x')).toBe(false);
  });
});
