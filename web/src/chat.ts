/**
 * The chat panel (viewer page and /embed/chat/*), speaking Owncast's chat protocol:
 *   POST /api/chat/register {displayName?}  once; {id, accessToken, displayName} kept in localStorage
 *   GET  /ws?accessToken=                   events, several per frame split on "\n"
 *   GET  /api/chat?accessToken=             history, on every (re)connect, merged without duplicates
 *   -> {type:"CHAT", body} / {type:"NAME_CHANGE", newName} / {type:"COLOR_CHANGE", newColor}
 *   POST /api/chat/messagevisibility, /api/chat/users/setenabled (?accessToken=, moderators only)
 * The host element is an empty landmark (<aside> on the viewer, <main> in the embed); the panel owns
 * everything inside it, starting with the "Chat" heading whose id labels the landmark.
 *
 * Message bodies are server-rendered HTML, rebuilt through an allow-list (chat-sanitize.ts); display
 * names and every other string from the server only ever become text.
 */
import { fetchConfig } from './api';
import { HttpError, setMessageVisibility, setUserEnabled } from './chat-api';
import { ChatLog, type NewEntry } from './chat-log';
import {
  type ChatEvent,
  chatPayloadBytes,
  type ChatUser,
  colorIndex,
  eventTime,
  EventType,
  isModerator,
  MAX_NAME_LENGTH,
  maxPayload,
  USER_COLORS,
} from './chat-protocol';
import { linkHref, sanitizeChatHtml } from './chat-sanitize';
import { ChatSession, type SessionState } from './chat-session';
import { type ChatDebugState, publishDebug } from './debug';
import { h } from './dom';
import type { ChatMode } from './embed';
import type { StreamState, WebConfig } from './types';

export type { ChatMode } from './embed';

export interface ChatOptions {
  mode: ChatMode;
  config: WebConfig | null;
  /** True inside /embed/chat/*: no page around the panel. */
  embedded: boolean;
  /** The id the panel must give its heading (the host's aria-labelledby points at it). */
  headingId: string;
}

export interface ChatHandle {
  /** New config (e.g. chat was disabled by the operator). */
  updateConfig(config: WebConfig): void;
  /** The stream went live or offline. */
  setStreamState(state: StreamState): void;
  destroy(): void;
}

/** Messages kept in the page; older ones leave the DOM. */
export const MESSAGE_LIMIT = 500;
/** Without /api/config after this long, chat starts with the defaults. */
export const CONFIG_WAIT_MS = 10_000;
/** After CHAT_DISABLED from the server, /api/config is asked this often whether chat is back. */
export const DISABLED_POLL_MS = 60_000;
/** How long the "Confirm ban" state of a ban button lasts. */
export const BAN_CONFIRM_MS = 5000;

export const BANNED_TEXT = 'You can no longer take part in this chat: a moderator has removed you.';
export const DISABLED_TEXT = 'Chat is disabled for this stream.';

const STATUS_TEXT: Record<SessionState, string> = {
  idle: 'Connecting…',
  connecting: 'Connecting…',
  open: 'Connected',
  closed: 'Disconnected',
  banned: 'Banned',
  stopped: '',
};

function debugState(state: SessionState): ChatDebugState {
  if (state === 'open' || state === 'banned') return state;
  return state === 'idle' || state === 'connecting' ? 'connecting' : 'closed';
}

function timeTitle(timestamp: unknown): string | null {
  const t = eventTime(timestamp);
  return t === null ? null : new Date(t).toLocaleString();
}

function nameOf(user: ChatUser | undefined, fallback = 'Someone'): string {
  const name = typeof user?.displayName === 'string' ? user.displayName.trim() : '';
  return name || fallback;
}

function describeError(err: unknown): string {
  return err instanceof HttpError && err.status ? `HTTP ${err.status}` : 'network error';
}

let mounted = 0;

export function mountChat(host: HTMLElement, options: ChatOptions): ChatHandle {
  const uid = `chat${++mounted}`;
  const readwrite = options.mode === 'readwrite';
  let config: WebConfig | null = options.config;
  let session: ChatSession | null = null;
  let sessionState: SessionState = 'idle';
  let me: ChatUser | null = null;
  let moderatorNotified = false;
  let disabled = false;
  let destroyed = false;
  let configTimer: ReturnType<typeof setTimeout> | null = null;
  let disabledPoll: ReturnType<typeof setInterval> | null = null;

  // Header: heading, connection state, and a banner for states that end the conversation.
  const heading = h('h2', { id: options.headingId, class: 'panel-heading' }, 'Chat');
  const status = h('p', { class: 'chat-status', role: 'status', 'data-state': 'connecting' }, STATUS_TEXT.idle);
  const banner = h('p', { class: 'chat-banner', role: 'alert', hidden: true });
  const log = new ChatLog(options.headingId, MESSAGE_LIMIT, publish);

  // Compose (read-write only).
  const inputId = `${uid}-input`;
  const textarea = h('textarea', {
    id: inputId,
    class: 'chat-input',
    name: 'body',
    rows: 2,
    placeholder: 'Send a message…',
    enterkeyhint: 'send',
    'aria-describedby': `${uid}-hint ${uid}-counter`,
  });
  const counter = h('span', { class: 'chat-counter', id: `${uid}-counter` });
  const sendButton = h('button', { type: 'submit', class: 'chat-send' }, 'Send');
  const meName = h('span', { class: 'chat-me-name' }, '…');
  const settingsId = `${uid}-settings`;
  const settingsToggle = h(
    'button',
    { type: 'button', class: 'secondary chat-me', 'aria-expanded': 'false', 'aria-controls': settingsId },
    meName,
    h('span', { class: 'sr-only' }, ': change your chat name and colour'),
  );
  const compose = h(
    'form',
    { class: 'chat-compose', hidden: !readwrite },
    h('label', { for: inputId, class: 'sr-only' }, 'Message'),
    h('span', { id: `${uid}-hint`, class: 'sr-only' }, 'Enter sends; Shift+Enter starts a new line.'),
    textarea,
    h('div', { class: 'chat-compose-row' }, settingsToggle, counter, sendButton),
  );

  // Name and colour.
  const nameId = `${uid}-name`;
  const nameInput = h('input', {
    id: nameId,
    type: 'text',
    class: 'chat-name-input',
    maxlength: MAX_NAME_LENGTH,
    autocomplete: 'nickname',
    spellcheck: 'false',
  });
  const swatches = Array.from({ length: USER_COLORS }, (_, i) =>
    h('input', { type: 'radio', name: `${uid}-color`, value: i, class: 'chat-swatch', 'data-color': i, 'aria-label': `Colour ${i + 1}` }),
  );
  const settingsError = h('p', { class: 'form-error', role: 'alert' });
  const cancelSettings = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  const settings = h(
    'form',
    { class: 'chat-settings', id: settingsId, hidden: true, 'aria-label': 'Your chat name and colour' },
    h('label', { for: nameId }, 'Your name'),
    nameInput,
    h('fieldset', { class: 'chat-colors' }, h('legend', {}, 'Your colour'), ...swatches),
    settingsError,
    h('div', { class: 'form-actions' }, cancelSettings, h('button', { type: 'submit' }, 'Save')),
  );

  host.replaceChildren(
    h('div', { class: 'chat-header' }, heading, status),
    banner,
    log.root,
    ...(readwrite ? [settings, compose] : []),
  );
  host.classList.add('chat-panel');

  // ---- state ---------------------------------------------------------------------------------------

  function publish(): void {
    if (destroyed) return;
    publishDebug({
      chat: {
        state: disabled ? 'closed' : debugState(sessionState),
        messages: log.visibleMessages,
        userId: me?.id ?? (session?.identity?.id || undefined),
        displayName: me?.displayName ?? (session?.identity?.displayName || undefined),
        moderator: isModerator(me),
      },
    });
  }

  function canModerate(): boolean {
    return readwrite && isModerator(me) && sessionState !== 'banned';
  }

  function updateCompose(): void {
    const usable = readwrite && !disabled && sessionState !== 'banned';
    if (!usable) settings.hidden = true;
    compose.hidden = !usable || !settings.hidden; // the name form takes the compose box's place
    const bytes = chatPayloadBytes(textarea.value.trim());
    const limit = maxPayload(config?.maxSocketPayloadSize);
    // Every character is at least one byte, so this many characters is an upper bound; bytes decide.
    textarea.maxLength = Math.max(1, limit - chatPayloadBytes(''));
    const left = limit - bytes;
    counter.textContent = left < 0 ? `${-left} too long` : left < 100 ? `${left} left` : '';
    counter.dataset.over = String(left < 0);
    sendButton.disabled = sessionState !== 'open' || left < 0;
  }

  function onState(state: SessionState, retryInMs?: number): void {
    sessionState = state;
    status.dataset.state = debugState(state);
    status.textContent =
      state === 'closed' && retryInMs ? `Disconnected; retrying in ${Math.max(1, Math.round(retryInMs / 1000))} s` : STATUS_TEXT[state];
    if (state === 'banned') {
      banner.textContent = BANNED_TEXT;
      banner.hidden = false;
      updateModeration();
    }
    updateCompose();
    publish();
  }

  function setMe(user: ChatUser | undefined): void {
    if (!user) return;
    const wasModerator = isModerator(me);
    me = { ...me, ...user };
    meName.textContent = nameOf(me, '…');
    settingsToggle.dataset.color = String(colorIndex(me.displayColor));
    if (isModerator(me) !== wasModerator) updateModeration();
    if (isModerator(me) && !moderatorNotified && readwrite) {
      moderatorNotified = true;
      notice('You are a moderator: each message has buttons to hide it or ban its author.', 'chat-system');
    }
    publish();
  }

  // ---- rendering ---------------------------------------------------------------------------------

  function notice(text: string, cls: string, id?: string, time?: number | null): void {
    log.append({ id, time, kind: 'notice', build: () => h('div', { class: `chat-msg chat-notice ${cls}` }, text) });
  }

  function htmlNotice(ev: ChatEvent, cls: string, author?: string): NewEntry {
    return {
      id: ev.id,
      time: eventTime(ev.timestamp),
      kind: 'notice',
      build: () =>
        h(
          'div',
          { class: `chat-msg ${cls}`, title: timeTitle(ev.timestamp) },
          author ? h('div', { class: 'chat-meta' }, h('span', { class: 'chat-author' }, author)) : null,
          h('div', { class: 'chat-body' }, sanitizeChatHtml(ev.body)),
        ),
    };
  }

  function userMessage(ev: ChatEvent): HTMLElement {
    const user = ev.user ?? {};
    const name = nameOf(user);
    const el = h(
      'div',
      {
        class: 'chat-msg chat-user',
        'data-color': colorIndex(user.displayColor),
        'data-user-id': user.id == null ? null : String(user.id),
        'data-user-name': name,
        title: timeTitle(ev.timestamp),
      },
      h(
        'div',
        { class: 'chat-meta' },
        h('span', { class: 'chat-author' }, name),
        isModerator(user) ? h('span', { class: 'chat-badge' }, 'Mod') : null,
        user.isBot ? h('span', { class: 'chat-badge' }, 'Bot') : null,
      ),
      h('div', { class: 'chat-body' }, sanitizeChatHtml(ev.body)),
    );
    if (canModerate()) el.append(moderationActions(el));
    return el;
  }

  /** The list entry for an event, or null for events that are not shown. No side effects. */
  function entryFor(ev: ChatEvent): NewEntry | null {
    const time = eventTime(ev.timestamp);
    const text = (cls: string, value: string): NewEntry => ({
      id: ev.id,
      time,
      kind: 'notice',
      build: () => h('div', { class: `chat-msg chat-notice ${cls}`, title: timeTitle(ev.timestamp) }, value),
    });
    switch (ev.type) {
      case EventType.CHAT:
        if (ev.hiddenAt) return null;
        return { id: ev.id, time, kind: 'chat', userId: ev.user?.id == null ? undefined : String(ev.user.id), build: () => userMessage(ev) };
      case EventType.USER_JOINED:
        return text('chat-join', `${nameOf(ev.user)} joined the chat`);
      case EventType.USER_PARTED:
        return text('chat-join', `${nameOf(ev.user)} left the chat`);
      case EventType.NAME_CHANGE:
        return text('chat-rename', `${(typeof ev.oldName === 'string' && ev.oldName.trim()) || 'Someone'} is now known as ${nameOf(ev.user)}`);
      case EventType.SYSTEM:
        return htmlNotice(ev, 'chat-system', nameOf(ev.user, config?.name?.trim() || 'System'));
      case EventType.CHAT_ACTION:
        return htmlNotice(ev, 'chat-action');
      case EventType.FEDIVERSE_FOLLOW:
      case EventType.FEDIVERSE_LIKE:
      case EventType.FEDIVERSE_REPOST: {
        const entry = htmlNotice(ev, 'chat-fediverse');
        const href = linkHref(typeof ev.link === 'string' ? ev.link : null, window.location.origin);
        const build = entry.build;
        entry.build = () => {
          const el = build();
          if (href) {
            el.append(
              h('a', { class: 'chat-fediverse-link', href, rel: 'nofollow noopener noreferrer', target: '_blank' }, typeof ev.title === 'string' && ev.title ? ev.title : 'View'),
            );
          }
          return el;
        };
        return entry;
      }
      case EventType.STREAM_STARTED:
        return text('chat-stream', 'The stream started.');
      case EventType.STREAM_STOPPED:
        return text('chat-stream', 'The stream ended.');
      case EventType.ERROR_MAX_CONNECTIONS_EXCEEDED:
        return text('chat-error', 'Chat is full right now; trying again shortly.');
      default:
        return null;
    }
  }

  function recolor(userId: string, color: number): void {
    for (const el of log.messagesBy(userId)) el.dataset.color = String(colorIndex(color));
  }

  function onEvents(events: ChatEvent[]): void {
    for (const ev of events) {
      switch (ev.type) {
        case EventType.CONNECTED_USER_INFO:
          setMe(ev.user);
          break;
        case EventType.NAME_CHANGE:
          if (me?.id != null && ev.user?.id != null && String(ev.user.id) === String(me.id)) setMe(ev.user);
          break;
        case EventType.COLOR_CHANGE: {
          const userId = ev.user?.id;
          const color = typeof ev.user?.displayColor === 'number' ? ev.user.displayColor : ev.newColor;
          if (userId != null && typeof color === 'number') {
            recolor(String(userId), color);
            if (me?.id != null && String(me.id) === String(userId)) setMe({ displayColor: color });
          }
          break;
        }
        case EventType.CHAT_DISABLED:
          // The operator turned chat off (the server closes every socket next). Not a ban: wait for
          // /api/config to say chat is back.
          showDisabled();
          if (disabledPoll === null) {
            disabledPoll = setInterval(() => {
              fetchConfig().then((next) => !next.chatDisabled && handle.updateConfig(next), () => {});
            }, DISABLED_POLL_MS);
          }
          return;
        case EventType.VISIBILITY_UPDATE: {
          const ids = Array.isArray(ev.ids) ? ev.ids.map(String) : [];
          // Messages shown again that this page never had: history has them.
          if (log.setVisible(ids, ev.visible === true).length) void session?.refreshHistory();
          break;
        }
      }
      const entry = entryFor(ev);
      if (entry) log.append(entry);
    }
  }

  function onHistory(events: ChatEvent[]): void {
    const entries: NewEntry[] = [];
    for (const ev of events) {
      const entry = ev.id ? entryFor(ev) : null;
      if (entry) entries.push(entry);
    }
    log.merge(entries);
  }

  // ---- moderation ----------------------------------------------------------------------------------

  function moderationActions(el: HTMLElement): HTMLElement {
    const name = el.dataset.userName ?? 'Someone';
    const userId = el.dataset.userId;
    const hide = h('button', { type: 'button', class: 'chat-mod-button', 'aria-label': `Hide message from ${name}` }, 'Hide');
    hide.addEventListener('click', async () => {
      const token = session?.identity?.accessToken;
      const id = el.dataset.id;
      if (!token || !id) return;
      hide.disabled = true;
      try {
        await setMessageVisibility(token, [id], false);
        log.setVisible([id], false);
        log.element.focus();
      } catch (err) {
        notice(`Could not hide the message (${describeError(err)}).`, 'chat-error');
      } finally {
        hide.disabled = false;
      }
    });
    const actions = h('div', { class: 'chat-mod' }, hide);
    if (userId && userId !== String(me?.id ?? '')) {
      const ban = h('button', { type: 'button', class: 'chat-mod-button', 'aria-label': `Ban ${name}` }, 'Ban');
      let armed: ReturnType<typeof setTimeout> | null = null;
      const disarm = () => {
        if (armed !== null) clearTimeout(armed);
        armed = null;
        ban.textContent = 'Ban';
        ban.setAttribute('aria-label', `Ban ${name}`);
        delete ban.dataset.armed;
      };
      ban.addEventListener('click', async () => {
        if (armed === null) {
          // Two steps instead of a dialog: a ban is not undone from here.
          ban.textContent = 'Confirm ban';
          ban.setAttribute('aria-label', `Confirm ban of ${name}`);
          ban.dataset.armed = 'true';
          armed = setTimeout(disarm, BAN_CONFIRM_MS);
          return;
        }
        disarm();
        const token = session?.identity?.accessToken;
        if (!token) return;
        ban.disabled = true;
        try {
          await setUserEnabled(token, userId, false);
          const theirs = log.messagesBy(userId).map((m) => m.dataset.id ?? '').filter(Boolean);
          // The server hides their messages (VISIBILITY-UPDATE) and announces the removal; hide now.
          log.setVisible(theirs, false);
          log.element.focus();
        } catch (err) {
          notice(`Could not ban ${name} (${describeError(err)}).`, 'chat-error');
        } finally {
          ban.disabled = false;
        }
      });
      actions.append(ban);
    }
    return actions;
  }

  function updateModeration(): void {
    const on = canModerate();
    for (const el of log.messages()) {
      el.querySelector(':scope > .chat-mod')?.remove();
      if (on) el.append(moderationActions(el));
    }
  }

  // ---- input ---------------------------------------------------------------------------------------

  function sendMessage(): void {
    const body = textarea.value.trim();
    if (!body) return;
    if (chatPayloadBytes(body) > maxPayload(config?.maxSocketPayloadSize)) {
      updateCompose();
      return;
    }
    if (!session?.send({ type: 'CHAT', body })) {
      notice('Not connected: your message was not sent.', 'chat-error');
      return;
    }
    textarea.value = '';
    updateCompose();
    log.scrollToBottom();
  }

  compose.addEventListener('submit', (event) => {
    event.preventDefault();
    sendMessage();
  });
  textarea.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    sendMessage();
  });
  textarea.addEventListener('input', updateCompose);

  function openSettings(open: boolean): void {
    settings.hidden = !open;
    settingsToggle.setAttribute('aria-expanded', String(open));
    settingsError.textContent = '';
    updateCompose();
    if (open) {
      nameInput.value = me?.displayName ?? session?.identity?.displayName ?? '';
      const current = colorIndex(me?.displayColor);
      swatches.forEach((s, i) => (s.checked = i === current));
      nameInput.focus();
    } else {
      settingsToggle.focus();
    }
  }
  settingsToggle.addEventListener('click', () => openSettings(settings.hidden));
  cancelSettings.addEventListener('click', () => openSettings(false));
  settings.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      openSettings(false);
    }
  });
  settings.addEventListener('submit', (event) => {
    event.preventDefault();
    const newName = nameInput.value.trim();
    if (!newName) {
      settingsError.textContent = 'Enter a name.';
      nameInput.focus();
      return;
    }
    if (sessionState !== 'open') {
      settingsError.textContent = 'Not connected; try again in a moment.';
      return;
    }
    const chosen = swatches.findIndex((s) => s.checked);
    if (newName !== (me?.displayName ?? '')) session?.send({ type: 'NAME_CHANGE', newName: newName.slice(0, MAX_NAME_LENGTH) });
    if (chosen >= 0 && chosen !== colorIndex(me?.displayColor)) {
      if (session?.send({ type: 'COLOR_CHANGE', newColor: chosen })) {
        // Owncast does not always echo a colour change; show it now.
        if (me?.id != null) recolor(String(me.id), chosen);
        setMe({ displayColor: chosen });
      }
    }
    openSettings(false);
  });

  // ---- lifecycle -----------------------------------------------------------------------------------

  function showDisabled(): void {
    disabled = true;
    const old = session;
    session = null;
    old?.stop();
    sessionState = 'stopped';
    status.textContent = '';
    status.dataset.state = 'closed';
    banner.textContent = DISABLED_TEXT;
    banner.hidden = false;
    updateCompose();
    publish();
  }

  function start(): void {
    if (destroyed || session || sessionState === 'banned') return;
    if (configTimer !== null) clearTimeout(configTimer);
    configTimer = null;
    if (config?.chatDisabled) {
      showDisabled();
      return;
    }
    disabled = false;
    banner.hidden = true;
    const s: ChatSession = new ChatSession(
      {
        onState: (state, retry) => s === session && onState(state, retry),
        onEvents: (events) => s === session && onEvents(events),
        onHistory: (events) => s === session && onHistory(events),
        onIdentity: (identity) => {
          if (s !== session) return;
          if (!me || (me.id != null && String(me.id) !== identity.id)) me = null;
          setMe({ id: identity.id || undefined, displayName: identity.displayName });
        },
      },
      { socketHostOverride: config?.socketHostOverride },
    );
    session = s;
    void s.start();
  }

  const onOnline = () => session?.reconnectNow();
  window.addEventListener('online', onOnline);

  updateCompose();
  publish();
  if (config) start();
  else configTimer = setTimeout(start, CONFIG_WAIT_MS);

  const stopDisabledPoll = () => {
    if (disabledPoll !== null) clearInterval(disabledPoll);
    disabledPoll = null;
  };

  const handle: ChatHandle = {
    updateConfig(next: WebConfig) {
      config = next;
      if (destroyed) return;
      if (next.chatDisabled) {
        if (!disabled) showDisabled();
        return;
      }
      stopDisabledPoll();
      if (disabled) {
        disabled = false;
        sessionState = 'idle';
      }
      updateCompose();
      start();
    },
    setStreamState(state: StreamState) {
      if (state === 'live') session?.reconnectNow();
    },
    destroy() {
      destroyed = true;
      if (configTimer !== null) clearTimeout(configTimer);
      stopDisabledPoll();
      window.removeEventListener('online', onOnline);
      const old = session;
      session = null;
      old?.stop();
      host.replaceChildren();
      host.classList.remove('chat-panel');
      publishDebug({ chat: undefined });
    },
  };
  return handle;
}
