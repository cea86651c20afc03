/**
 * Owncast's chat protocol, the pure parts: event shapes, frame splitting, the socket URL, reconnect
 * backoff, payload size, user colours, and the stored chat identity. No DOM, no network.
 */

/** The User object (CONNECTED_USER_INFO, and `user` on CHAT, NAME_CHANGE, ...). */
export interface ChatUser {
  id?: string;
  displayName?: string;
  displayColor?: number;
  createdAt?: string;
  disabledAt?: string | null;
  nameChangedAt?: string | null;
  previousNames?: string[] | null;
  scopes?: string[] | null;
  isBot?: boolean;
  authenticated?: boolean;
}

/** Any server event; which fields are present depends on `type`. */
export interface ChatEvent {
  type: string;
  id?: string;
  timestamp?: string;
  user?: ChatUser;
  body?: string;
  clientId?: number;
  hiddenAt?: string | null;
  oldName?: string;
  newColor?: number;
  ids?: string[];
  visible?: boolean;
  image?: string;
  link?: string;
  title?: string;
}

/** The server's event types (Owncast's names; note the dash in VISIBILITY-UPDATE). */
export const EventType = {
  CONNECTED_USER_INFO: 'CONNECTED_USER_INFO',
  CHAT: 'CHAT',
  USER_JOINED: 'USER_JOINED',
  USER_PARTED: 'USER_PARTED',
  NAME_CHANGE: 'NAME_CHANGE',
  COLOR_CHANGE: 'COLOR_CHANGE',
  SYSTEM: 'SYSTEM',
  CHAT_ACTION: 'CHAT_ACTION',
  VISIBILITY_UPDATE: 'VISIBILITY-UPDATE',
  CHAT_DISABLED: 'CHAT_DISABLED',
  STREAM_STARTED: 'STREAM_STARTED',
  STREAM_STOPPED: 'STREAM_STOPPED',
  STREAM_TITLE_UPDATED: 'STREAM_TITLE_UPDATED',
  FEDIVERSE_FOLLOW: 'FEDIVERSE_ENGAGEMENT_FOLLOW',
  FEDIVERSE_LIKE: 'FEDIVERSE_ENGAGEMENT_LIKE',
  FEDIVERSE_REPOST: 'FEDIVERSE_ENGAGEMENT_REPOST',
  ERROR_NEEDS_REGISTRATION: 'ERROR_NEEDS_REGISTRATION',
  ERROR_USER_DISABLED: 'ERROR_USER_DISABLED',
  ERROR_MAX_CONNECTIONS_EXCEEDED: 'ERROR_MAX_CONNECTIONS_EXCEEDED',
  PING: 'PING',
} as const;

/** Owncast's palette has eight user colours, `--theme-color-users-0` to `-7`. */
export const USER_COLORS = 8;
/** Owncast's web client limits display names to 30 characters. */
export const MAX_NAME_LENGTH = 30;
/** Owncast's `config.MaxSocketPayloadSize`, used when /api/config does not say. */
export const DEFAULT_MAX_PAYLOAD = 2048;

/**
 * Splits one server frame into events. Owncast joins several JSON events with "\n"; blank lines, bad
 * JSON and objects without a string `type` are skipped (one bad event never loses the others).
 */
export function splitFrame(data: unknown): ChatEvent[] {
  if (typeof data !== 'string') return [];
  const events: ChatEvent[] = [];
  for (const line of data.split('\n')) {
    const text = line.trim();
    if (!text) continue;
    try {
      const value: unknown = JSON.parse(text);
      if (value && typeof value === 'object' && !Array.isArray(value) && typeof (value as ChatEvent).type === 'string') {
        events.push(value as ChatEvent);
      }
    } catch {
      /* not JSON: skip this line only */
    }
  }
  return events;
}

/** The colour index to show for a user: 0..7, anything odd becomes 0. */
export function colorIndex(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return 0;
  const n = Math.trunc(value) % USER_COLORS;
  return n < 0 ? n + USER_COLORS : n;
}

export function isModerator(user: ChatUser | null | undefined): boolean {
  return Array.isArray(user?.scopes) && user.scopes.includes('MODERATOR');
}

/** Bytes of the frame we would send for a CHAT message (UTF-8), to compare with maxSocketPayloadSize. */
export function chatPayloadBytes(body: string): number {
  return new TextEncoder().encode(JSON.stringify({ type: 'CHAT', body })).length;
}

/** The usable payload limit from /api/config (Owncast publishes `maxSocketPayloadSize` in bytes). */
export function maxPayload(configured: unknown): number {
  return typeof configured === 'number' && Number.isFinite(configured) && configured >= 64
    ? Math.floor(configured)
    : DEFAULT_MAX_PAYLOAD;
}

/**
 * `ws(s)://<host>/ws?accessToken=<token>`. The host is the page's, or the operator's
 * `socketHostOverride` (Owncast accepts a bare host or a URL); the scheme follows the override's
 * (http/ws -> ws, https/wss -> wss) or else the page's.
 */
export function socketUrl(page: { protocol: string; host: string }, token: string, override?: string): string {
  let protocol = page.protocol === 'https:' ? 'wss:' : 'ws:';
  let host = page.host;
  const raw = (override ?? '').trim();
  if (raw) {
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `${page.protocol}//${raw}`;
    try {
      const url = new URL(withScheme);
      if (url.host) {
        host = url.host;
        protocol = url.protocol === 'https:' || url.protocol === 'wss:' ? 'wss:' : url.protocol === 'http:' || url.protocol === 'ws:' ? 'ws:' : protocol;
      }
    } catch {
      /* an unusable override: stay on the page's host */
    }
  }
  return `${protocol}//${host}/ws?accessToken=${encodeURIComponent(token)}`;
}

/**
 * Reconnect delay after `attempt` failures in a row (0 = first retry): 1 s doubling to 30 s, with
 * jitter (50-100 % of that) so a server restart is not met by every viewer at once.
 */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 1000 * 2 ** Math.max(0, Math.min(attempt, 10)));
  return Math.round(base * (0.5 + 0.5 * random()));
}

/** Milliseconds since the epoch for an event timestamp, or null. */
export function eventTime(timestamp: unknown): number | null {
  if (typeof timestamp !== 'string') return null;
  const t = Date.parse(timestamp);
  return Number.isNaN(t) ? null : t;
}

/** What we keep across visits (Owncast's client keeps the token in localStorage too). */
export interface StoredIdentity {
  id: string;
  accessToken: string;
  displayName: string;
}

export const STORAGE_KEY = 'owncastd.chat';
/** Owncast's own web client stores the token alone under this key; read it, and keep it in step. */
export const OWNCAST_TOKEN_KEY = 'accessToken';

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null; // storage blocked (sandboxed iframe, privacy settings)
  }
}

export function loadIdentity(): StoredIdentity | null {
  const store = storage();
  if (!store) return null;
  try {
    const parsed = JSON.parse(store.getItem(STORAGE_KEY) ?? 'null') as Partial<StoredIdentity> | null;
    if (parsed && typeof parsed.accessToken === 'string' && parsed.accessToken) {
      return {
        id: typeof parsed.id === 'string' ? parsed.id : '',
        accessToken: parsed.accessToken,
        displayName: typeof parsed.displayName === 'string' ? parsed.displayName : '',
      };
    }
    const token = store.getItem(OWNCAST_TOKEN_KEY);
    if (token) return { id: '', accessToken: token, displayName: '' };
  } catch {
    /* unreadable: register again */
  }
  return null;
}

export function saveIdentity(identity: StoredIdentity | null): void {
  const store = storage();
  if (!store) return;
  try {
    if (identity) {
      store.setItem(STORAGE_KEY, JSON.stringify(identity));
      store.setItem(OWNCAST_TOKEN_KEY, identity.accessToken);
    } else {
      store.removeItem(STORAGE_KEY);
      store.removeItem(OWNCAST_TOKEN_KEY);
    }
  } catch {
    /* quota or blocked: the identity lives for this page only */
  }
}
