/** Operator styling from /api/config: appearance variables on :root and custom CSS after our own. */

export const CUSTOM_STYLE_ID = 'owncastd-custom-styles';

/**
 * Owncast stores appearance keys with or without the leading `--`; both mean the CSS custom property.
 * Returns null for names that are not a plain custom-property identifier.
 */
export function cssVariableName(key: string): string | null {
  const name = key.startsWith('--') ? key : `--${key}`;
  return /^--[A-Za-z0-9_-]+$/.test(name) ? name : null;
}

/** Sets each appearance variable on the root element; returns the property names applied. */
export function applyAppearanceVariables(
  root: HTMLElement,
  variables: Record<string, unknown> | null | undefined,
): string[] {
  const applied: string[] = [];
  if (!variables || typeof variables !== 'object') return applied;
  for (const [key, value] of Object.entries(variables)) {
    const name = cssVariableName(key);
    if (!name || typeof value !== 'string' || value.trim() === '') continue;
    // A value cannot close the declaration or open a new block through setProperty.
    if (/[;{}]/.test(value)) continue;
    root.style.setProperty(name, value.trim());
    applied.push(name);
  }
  return applied;
}

/**
 * Puts the operator's CSS in one <style> element at the end of <head>, after the page's own styles, so
 * it wins on equal specificity. An empty value removes the element.
 */
export function applyCustomStyles(doc: Document, css: string | null | undefined): HTMLStyleElement | null {
  let style = doc.getElementById(CUSTOM_STYLE_ID) as HTMLStyleElement | null;
  if (!css || css.trim() === '') {
    style?.remove();
    return null;
  }
  if (!style) {
    style = doc.createElement('style');
    style.id = CUSTOM_STYLE_ID;
  }
  style.textContent = css;
  doc.head.append(style); // (re)appending keeps it last even if other styles arrived later
  return style;
}
