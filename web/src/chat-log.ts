/**
 * The message list: a `role="log"` that keeps at most `limit` entries, never shows one id twice,
 * merges history in timestamp order, hides and re-shows messages by id, and sticks to the bottom
 * unless the reader has scrolled up (then a "new messages" button appears instead).
 */
import { h } from './dom';

export type EntryKind = 'chat' | 'notice';

interface Entry {
  id: string;
  time: number;
  kind: EntryKind;
  userId?: string;
  el: HTMLElement;
}

export interface NewEntry {
  /** The server's message id; local notices get one from the log. */
  id?: string;
  /** Server time in ms; absent for local notices (they stay where they were added). */
  time?: number | null;
  kind: EntryKind;
  userId?: string;
  build: () => HTMLElement;
}

/** Pixels from the bottom that still count as "at the bottom". */
const STICK_SLACK = 48;

export class ChatLog {
  readonly element: HTMLElement;
  readonly jumpButton: HTMLButtonElement;
  readonly root: HTMLElement;
  private entries: Entry[] = [];
  private byId = new Map<string, Entry>();
  /** Ids hidden by VISIBILITY-UPDATE, including ones not (yet) in the list. */
  private hiddenIds = new Set<string>();
  private pruned = false;
  private lastServerTime = 0;
  private localIds = 0;
  private stick = true;

  constructor(
    labelledBy: string,
    private readonly limit = 500,
    private readonly onChange: () => void = () => {},
  ) {
    this.element = h('div', {
      class: 'chat-log',
      role: 'log',
      'aria-live': 'polite',
      'aria-relevant': 'additions',
      'aria-labelledby': labelledBy,
      tabindex: 0,
    });
    this.jumpButton = h('button', { type: 'button', class: 'chat-jump', hidden: true }, 'New messages ↓');
    this.jumpButton.addEventListener('click', () => this.scrollToBottom());
    this.element.addEventListener('scroll', () => {
      this.stick = this.distanceFromBottom() <= STICK_SLACK;
      if (this.stick) this.jumpButton.hidden = true;
    });
    this.root = h('div', { class: 'chat-log-wrap' }, this.element, this.jumpButton);
  }

  private distanceFromBottom(): number {
    const el = this.element;
    return el.scrollHeight - el.scrollTop - el.clientHeight;
  }

  scrollToBottom(): void {
    this.element.scrollTop = this.element.scrollHeight;
    this.stick = true;
    this.jumpButton.hidden = true;
  }

  /** Whether the reader is at the bottom (new messages scroll into view). */
  get atBottom(): boolean {
    return this.stick;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  get size(): number {
    return this.entries.length;
  }

  /** Chat messages currently visible (what `window.owncastd.chat.messages` reports). */
  get visibleMessages(): number {
    let n = 0;
    for (const entry of this.entries) if (entry.kind === 'chat' && !entry.el.hidden) n++;
    return n;
  }

  private make(item: NewEntry, time: number): Entry {
    const id = item.id || `local-${++this.localIds}`;
    const el = item.build();
    el.dataset.id = id;
    if (this.hiddenIds.has(id)) el.hidden = true;
    return { id, time, kind: item.kind, userId: item.userId, el };
  }

  private afterInsert(appended: boolean): void {
    this.prune();
    if (appended) {
      if (this.stick) this.scrollToBottom();
      else this.jumpButton.hidden = false;
    }
    this.onChange();
  }

  /** Adds a live event at the end. False if that id is already shown. */
  append(item: NewEntry): boolean {
    if (item.id && this.byId.has(item.id)) return false;
    const time = item.time ?? this.lastServerTime;
    if (item.time != null) this.lastServerTime = Math.max(this.lastServerTime, item.time);
    const entry = this.make(item, time);
    this.entries.push(entry);
    this.byId.set(entry.id, entry);
    this.element.append(entry.el);
    this.afterInsert(true);
    return true;
  }

  /**
   * Merges history (oldest first): unknown ids go in timestamp order among what is shown; ids already
   * shown are skipped; after pruning, nothing older than the oldest kept entry comes back.
   */
  merge(items: NewEntry[]): number {
    let added = 0;
    let appended = false;
    const oldest = this.entries.length ? this.entries[0].time : -Infinity;
    for (const item of items) {
      if (!item.id || this.byId.has(item.id)) continue;
      const time = item.time ?? this.lastServerTime;
      if (this.pruned && time < oldest) continue;
      let index = this.entries.length;
      while (index > 0 && this.entries[index - 1].time > time) index--;
      const entry = this.make(item, time);
      const before = this.entries[index];
      this.entries.splice(index, 0, entry);
      this.byId.set(entry.id, entry);
      if (before) this.element.insertBefore(entry.el, before.el);
      else {
        this.element.append(entry.el);
        appended = true;
      }
      if (item.time != null) this.lastServerTime = Math.max(this.lastServerTime, item.time);
      added++;
    }
    if (added) this.afterInsert(appended);
    return added;
  }

  private prune(): void {
    while (this.entries.length > this.limit) {
      const entry = this.entries.shift()!;
      this.byId.delete(entry.id);
      entry.el.remove();
      this.pruned = true;
    }
  }

  /** VISIBILITY-UPDATE. Returns the ids made visible that are not in the list (history may have them). */
  setVisible(ids: string[], visible: boolean): string[] {
    const missing: string[] = [];
    for (const id of ids) {
      if (visible) this.hiddenIds.delete(id);
      else this.hiddenIds.add(id);
      const entry = this.byId.get(id);
      if (entry) entry.el.hidden = !visible;
      else if (visible) missing.push(id);
    }
    this.onChange();
    return missing;
  }

  isHidden(id: string): boolean {
    return this.hiddenIds.has(id);
  }

  /** Every chat message element by one user (colour changes, bans). */
  messagesBy(userId: string): HTMLElement[] {
    return this.entries.filter((e) => e.kind === 'chat' && e.userId === userId).map((e) => e.el);
  }

  /** Every chat message element. */
  messages(): HTMLElement[] {
    return this.entries.filter((e) => e.kind === 'chat').map((e) => e.el);
  }

  clear(): void {
    this.entries = [];
    this.byId.clear();
    this.element.replaceChildren();
    this.onChange();
  }
}
