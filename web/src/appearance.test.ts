import { beforeEach, describe, expect, it } from 'vitest';
import { applyAppearanceVariables, applyCustomStyles, CUSTOM_STYLE_ID, cssVariableName } from './appearance';

describe('appearance variables', () => {
  beforeEach(() => {
    document.documentElement.removeAttribute('style');
  });

  it('sets each variable on :root, with or without the leading --', () => {
    const applied = applyAppearanceVariables(document.documentElement, {
      '--theme-color-action': '#ff0000',
      'color-bg': ' #fafafa ',
    });
    expect(applied).toEqual(['--theme-color-action', '--color-bg']);
    const style = document.documentElement.style;
    expect(style.getPropertyValue('--theme-color-action')).toBe('#ff0000');
    expect(style.getPropertyValue('--color-bg')).toBe('#fafafa');
  });

  it('skips bad names, empty or non-string values and values that try to break out', () => {
    const applied = applyAppearanceVariables(document.documentElement, {
      'bad name': 'red',
      '--ok': '',
      '--num': 3 as unknown as string,
      '--evil': 'red; background: url(x)',
      '--brace': 'red } body { color: red',
    });
    expect(applied).toEqual([]);
    expect(document.documentElement.getAttribute('style') ?? '').toBe('');
  });

  it('tolerates a missing map', () => {
    expect(applyAppearanceVariables(document.documentElement, undefined)).toEqual([]);
    expect(applyAppearanceVariables(document.documentElement, null)).toEqual([]);
  });

  it('normalises names', () => {
    expect(cssVariableName('theme-color-palette-0')).toBe('--theme-color-palette-0');
    expect(cssVariableName('--x')).toBe('--x');
    expect(cssVariableName('x:y')).toBeNull();
  });
});

describe('custom styles', () => {
  beforeEach(() => {
    document.head.replaceChildren();
  });

  it('appends one <style> after the page styles and updates it in place', () => {
    document.head.append(document.createElement('link'));
    const first = applyCustomStyles(document, 'body { color: red; }');
    expect(first?.id).toBe(CUSTOM_STYLE_ID);
    expect(document.head.lastElementChild).toBe(first);
    expect(first?.textContent).toBe('body { color: red; }');

    document.head.append(document.createElement('style')); // something arrives later
    const second = applyCustomStyles(document, 'body { color: blue; }');
    expect(second).toBe(first);
    expect(document.head.lastElementChild).toBe(second);
    expect(document.querySelectorAll(`#${CUSTOM_STYLE_ID}`)).toHaveLength(1);
    expect(second?.textContent).toBe('body { color: blue; }');
  });

  it('keeps markup inside the CSS as text', () => {
    const style = applyCustomStyles(document, '</style><script>alert(1)</script>');
    expect(document.querySelector('script')).toBeNull();
    expect(style?.textContent).toContain('<script>');
  });

  it('removes the element when the CSS is emptied', () => {
    applyCustomStyles(document, 'a{}');
    expect(applyCustomStyles(document, '  ')).toBeNull();
    expect(document.getElementById(CUSTOM_STYLE_ID)).toBeNull();
  });
});
