import { describe, expect, it, vi } from 'vitest';
import { ChatLog, type NewEntry } from './chat-log';

function msg(id: string, time: number | null, userId = 'u1'): NewEntry {
  return { id, time, kind: 'chat', userId, build: () => Object.assign(document.createElement('div'), { textContent: id }) };
}

function ids(log: ChatLog): string[] {
  return Array.from(log.element.children).map((el) => (el as HTMLElement).dataset.id ?? '');
}

describe('ChatLog', () => {
  it('is an accessible live log', () => {
    const log = new ChatLog('heading');
    expect(log.element.getAttribute('role')).toBe('log');
    expect(log.element.getAttribute('aria-live')).toBe('polite');
    expect(log.element.getAttribute('aria-labelledby')).toBe('heading');
    expect(log.jumpButton.tagName).toBe('BUTTON');
  });

  it('never shows an id twice', () => {
    const log = new ChatLog('h');
    expect(log.append(msg('a', 1))).toBe(true);
    expect(log.append(msg('a', 1))).toBe(false);
    expect(log.merge([msg('a', 1), msg('b', 2)])).toBe(1);
    expect(ids(log)).toEqual(['a', 'b']);
  });

  it('merges history in timestamp order around live messages', () => {
    const log = new ChatLog('h');
    log.append(msg('live2', 20));
    log.append(msg('live4', 40));
    log.merge([msg('h1', 10), msg('h3', 30), msg('live2', 20), msg('h5', 50)]);
    expect(ids(log)).toEqual(['h1', 'live2', 'h3', 'live4', 'h5']);
  });

  it('keeps local notices where they were added', () => {
    const log = new ChatLog('h');
    log.append(msg('a', 10));
    log.append({ kind: 'notice', build: () => document.createElement('div') });
    log.merge([msg('b', 20)]);
    expect(ids(log)).toEqual(['a', 'local-1', 'b']);
  });

  it('keeps at most `limit` entries and does not bring pruned history back', () => {
    const log = new ChatLog('h', 3);
    for (let i = 1; i <= 5; i++) log.append(msg(`m${i}`, i));
    expect(ids(log)).toEqual(['m3', 'm4', 'm5']);
    expect(log.size).toBe(3);
    log.merge([msg('m1', 1), msg('m2', 2), msg('m6', 6)]);
    expect(ids(log)).toEqual(['m4', 'm5', 'm6']);
  });

  it('hides and shows by id, counts visible chat messages, remembers ids hidden before they arrive', () => {
    const onChange = vi.fn();
    const log = new ChatLog('h', 500, onChange);
    log.append(msg('a', 1));
    log.append(msg('b', 2));
    log.append({ kind: 'notice', build: () => document.createElement('div') });
    expect(log.visibleMessages).toBe(2);
    expect(log.setVisible(['a', 'x'], false)).toEqual([]);
    expect(log.visibleMessages).toBe(1);
    log.merge([msg('x', 3)]);
    expect((log.element.querySelector('[data-id="x"]') as HTMLElement).hidden).toBe(true);
    expect(log.setVisible(['a', 'y'], true)).toEqual(['y']);
    expect(log.visibleMessages).toBe(2);
    expect(onChange).toHaveBeenCalled();
  });

  it('finds a user messages', () => {
    const log = new ChatLog('h');
    log.append(msg('a', 1, 'u1'));
    log.append(msg('b', 2, 'u2'));
    log.append(msg('c', 3, 'u1'));
    expect(log.messagesBy('u1').map((el) => el.dataset.id)).toEqual(['a', 'c']);
  });

  it('offers a jump button instead of scrolling when the reader has scrolled up', () => {
    const log = new ChatLog('h');
    const el = log.element;
    Object.defineProperty(el, 'scrollHeight', { configurable: true, get: () => 1000 });
    Object.defineProperty(el, 'clientHeight', { configurable: true, get: () => 200 });
    log.append(msg('a', 1));
    expect(el.scrollTop).toBe(1000);
    expect(log.jumpButton.hidden).toBe(true);

    el.scrollTop = 100; // reader scrolls up
    el.dispatchEvent(new Event('scroll'));
    expect(log.atBottom).toBe(false);
    log.append(msg('b', 2));
    expect(el.scrollTop).toBe(100);
    expect(log.jumpButton.hidden).toBe(false);

    log.jumpButton.click();
    expect(el.scrollTop).toBe(1000);
    expect(log.jumpButton.hidden).toBe(true);
    expect(log.atBottom).toBe(true);
  });
});
