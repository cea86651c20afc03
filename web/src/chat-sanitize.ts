/**
 * Defence in depth for chat HTML. The server already renders and sanitises every body; this rebuilds
 * the HTML from scratch with Owncast's chat allow-list anyway, so a server bug cannot become script in
 * every viewer's page:
 *   p, br, strong, em, code, pre            kept, without any attribute
 *   a[href]                                 http(s) only, rel="nofollow noopener noreferrer" target=_blank
 *   img[src]                                only same-origin /img/emoji/..., with alt/title
 *   script, style, iframe, svg, math, ...   dropped with their content
 *   anything else                           unwrapped: its text stays, the tag goes
 * The input is parsed in an inert document (DOMParser: no scripts run, nothing loads) and only new
 * nodes built here reach the page.
 */

const KEEP = new Set(['p', 'br', 'strong', 'em', 'code', 'pre']);
const DROP = new Set([
  'script', 'style', 'template', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'svg', 'math',
  'noscript', 'noembed', 'noframes', 'title', 'textarea', 'select', 'option', 'button', 'input', 'form',
  'link', 'meta', 'base', 'head', 'xmp', 'plaintext', 'video', 'audio', 'canvas', 'picture', 'source',
  'dialog', 'map', 'area',
]);
const HTML_NS = 'http://www.w3.org/1999/xhtml';
const MAX_DEPTH = 32;
export const EMOJI_PATH = '/img/emoji/';

/** The cleaned same-origin path of an emoji image, or null for anything else. */
export function emojiSrc(src: string | null, origin: string): string | null {
  if (!src) return null;
  try {
    const url = new URL(src.trim(), `${origin}/`);
    if (url.origin !== origin || !/^https?:$/.test(url.protocol)) return null;
    if (!url.pathname.startsWith(EMOJI_PATH)) return null;
    return url.pathname + url.search;
  } catch {
    return null;
  }
}

/** The absolute http(s) URL a chat link may point at, or null. */
export function linkHref(href: string | null, origin: string): string | null {
  if (!href) return null;
  // Browsers ignore control characters and whitespace in schemes ("java\tscript:"); strip them first.
  const compact = href.replace(/[\u0000-\u0020\u007f]/g, '');
  if (!compact) return null;
  try {
    const url = new URL(compact, `${origin}/`);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

function copyChildren(from: Node, to: Node, doc: Document, origin: string, depth: number): void {
  for (let child = from.firstChild; child; child = child.nextSibling) {
    if (child.nodeType === 3) {
      to.appendChild(doc.createTextNode(child.nodeValue ?? ''));
    } else if (child.nodeType === 1) {
      copyElement(child as Element, to, doc, origin, depth + 1);
    }
    // comments, processing instructions, CDATA: dropped
  }
}

function copyElement(el: Element, to: Node, doc: Document, origin: string, depth: number): void {
  const tag = el.localName.toLowerCase();
  if (el.namespaceURI !== HTML_NS || DROP.has(tag)) return;
  if (depth > MAX_DEPTH) {
    to.appendChild(doc.createTextNode(el.textContent ?? ''));
    return;
  }
  if (KEEP.has(tag)) {
    const out = doc.createElement(tag);
    if (tag !== 'br') copyChildren(el, out, doc, origin, depth);
    to.appendChild(out);
    return;
  }
  if (tag === 'a') {
    const href = linkHref(el.getAttribute('href'), origin);
    if (!href) {
      copyChildren(el, to, doc, origin, depth);
      return;
    }
    const out = doc.createElement('a');
    out.setAttribute('href', href);
    out.setAttribute('rel', 'nofollow noopener noreferrer');
    out.setAttribute('target', '_blank');
    copyChildren(el, out, doc, origin, depth);
    to.appendChild(out);
    return;
  }
  if (tag === 'img') {
    const src = emojiSrc(el.getAttribute('src'), origin);
    const label = (el.getAttribute('alt') || el.getAttribute('title') || '').slice(0, 100);
    if (!src) {
      if (label) to.appendChild(doc.createTextNode(label));
      return;
    }
    const out = doc.createElement('img');
    out.setAttribute('src', src);
    out.setAttribute('alt', label);
    if (label) out.setAttribute('title', label);
    out.setAttribute('class', 'emoji');
    out.setAttribute('loading', 'lazy');
    to.appendChild(out);
    return;
  }
  copyChildren(el, to, doc, origin, depth); // unknown tag: keep the text, lose the tag
}

/** Rebuilds server HTML as a fragment of `doc` holding only allow-listed nodes. */
export function sanitizeChatHtml(html: unknown, doc: Document = document, origin?: string): DocumentFragment {
  const fragment = doc.createDocumentFragment();
  if (typeof html !== 'string' || html === '') return fragment;
  const pageOrigin = origin ?? doc.defaultView?.location.origin ?? 'http://localhost';
  const parsed = new DOMParser().parseFromString(html, 'text/html');
  copyChildren(parsed.body, fragment, doc, pageOrigin, 0);
  return fragment;
}
