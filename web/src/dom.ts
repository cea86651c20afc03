/** Small DOM helpers: an element builder and a defensive HTML cleaner for server-rendered content. */

type Attrs = Record<string, string | number | boolean | null | undefined>;
type Child = Node | string | null | undefined | false;

/** Builds an element: `h('button', {type: 'button', 'aria-label': 'Mute'}, 'Mute')`. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

/** Inline SVG icon (decorative: hidden from assistive technology). */
export function icon(path: string): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.classList.add('icon');
  const p = document.createElementNS(ns, 'path');
  p.setAttribute('d', path);
  svg.append(p);
  return svg;
}

const DROP_ELEMENTS = new Set([
  'script', 'style', 'link', 'meta', 'base', 'object', 'embed', 'applet', 'form', 'input', 'textarea',
  'select', 'button', 'frame', 'frameset', 'noscript', 'template', 'svg', 'math',
]);
const URL_ATTRIBUTES = new Set(['href', 'src', 'action', 'formaction', 'xlink:href', 'poster', 'background', 'cite']);
const DROP_ATTRIBUTES = new Set(['srcdoc', 'srcset', 'formaction', 'ping']);

/** True for URLs a page may link to or load: relative, http(s), mailto, or (for images) data:image. */
export function isSafeUrl(value: string, allowDataImage = false): boolean {
  // Browsers ignore control characters and whitespace inside schemes ("java\nscript:"); so do we.
  const compact = value.replace(/[\u0000-\u0020\u007f]/g, '').toLowerCase();
  const scheme = /^([a-z][a-z0-9+.-]*):/.exec(compact);
  if (!scheme) return true;
  if (scheme[1] === 'http' || scheme[1] === 'https' || scheme[1] === 'mailto') return true;
  return allowDataImage && /^data:image\/(png|gif|jpeg|webp|avif);/.test(compact);
}

/**
 * Parses HTML that the server has already sanitised and removes anything that could still run code
 * (scripts, event handlers, javascript: URLs, plugins, forms). Iframes survive only with an https src
 * (page content may embed a video) and are sandboxed.
 */
export function sanitizeHtml(html: string, doc: Document = document): DocumentFragment {
  const template = doc.createElement('template');
  template.innerHTML = html;
  const fragment = template.content;
  const walker = doc.createTreeWalker(fragment, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_COMMENT);
  const doomed: Node[] = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.nodeType === Node.COMMENT_NODE) {
      doomed.push(node);
      continue;
    }
    const el = node as Element;
    const tag = el.localName;
    if (DROP_ELEMENTS.has(tag)) {
      doomed.push(el);
      continue;
    }
    for (const attr of Array.from(el.attributes)) {
      const name = attr.name.toLowerCase();
      if (name.startsWith('on') || DROP_ATTRIBUTES.has(name)) {
        el.removeAttribute(attr.name);
      } else if (URL_ATTRIBUTES.has(name) && !isSafeUrl(attr.value, tag === 'img' && name === 'src')) {
        el.removeAttribute(attr.name);
      }
    }
    if (tag === 'iframe') {
      const src = el.getAttribute('src') ?? '';
      if (!/^https:\/\//i.test(src.trim())) {
        doomed.push(el);
        continue;
      }
      el.setAttribute('sandbox', 'allow-scripts allow-same-origin allow-presentation allow-popups');
      el.setAttribute('loading', 'lazy');
      el.setAttribute('referrerpolicy', 'strict-origin-when-cross-origin');
    }
    if (tag === 'a' && el.getAttribute('target') === '_blank') {
      el.setAttribute('rel', 'noopener noreferrer');
    }
  }
  for (const node of doomed) node.parentNode?.removeChild(node);
  return fragment;
}

/** Replaces an element's children with cleaned HTML. */
export function setSafeHtml(target: Element, html: string): void {
  target.replaceChildren(sanitizeHtml(html, target.ownerDocument));
}
