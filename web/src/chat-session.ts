/**
 * The chat connection: identity (register once, reuse the stored token), the websocket, reconnects
 * with backoff, history on every (re)connect, and the banned state. It reports to the panel through
 * callbacks and knows nothing about the DOM.
 *
 * Deciding "banned": a browser cannot see the HTTP status of a refused websocket upgrade, so the
 * socket's own words are used when it has them (ERROR_USER_DISABLED), and when a socket
 * closes without ever opening, GET /api/chat is asked: 401/403 there means this user or address is
 * banned (Owncast answers 401 for a disabled user and for an IP ban). An unknown token is not a ban:
 * the server says ERROR_NEEDS_REGISTRATION on the socket, and the session registers again.
 */
import { fetchChatHistory, HttpError, registerChatUser } from './chat-api';
import {
  backoffDelay,
  type ChatEvent,
  EventType,
  loadIdentity,
  saveIdentity,
  socketUrl,
  splitFrame,
  type StoredIdentity,
} from './chat-protocol';

export type SessionState = 'idle' | 'connecting' | 'open' | 'closed' | 'banned' | 'stopped';

export interface SessionCallbacks {
  /** State changes; `retryInMs` is set while waiting to reconnect. */
  onState(state: SessionState, retryInMs?: number): void;
  /** Live events from the socket, in order (CONNECTED_USER_INFO included). */
  onEvents(events: ChatEvent[]): void;
  /** GET /api/chat, after each successful (re)connect and on request. */
  onHistory(events: ChatEvent[]): void;
  /** The identity changed (registered, or the server renamed us). */
  onIdentity?(identity: StoredIdentity): void;
}

export interface SessionOptions {
  socketHostOverride?: string;
  random?: () => number;
}

/** Re-registrations in a row allowed before falling back to the normal backoff. */
const MAX_QUICK_REREGISTRATIONS = 2;

export class ChatSession {
  state: SessionState = 'idle';
  identity: StoredIdentity | null = null;
  private socket: WebSocket | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private reregistrations = 0;
  private needsRegistration = false;
  private starting = false;

  constructor(
    private readonly callbacks: SessionCallbacks,
    private readonly options: SessionOptions = {},
  ) {}

  private setState(state: SessionState, retryInMs?: number): void {
    this.state = state;
    this.callbacks.onState(state, retryInMs);
  }

  private get finished(): boolean {
    return this.state === 'stopped' || this.state === 'banned';
  }

  /** Registers if there is no stored token, then connects. Safe to call again; does nothing when banned. */
  async start(): Promise<void> {
    if (this.finished || this.starting || this.socket) return;
    this.clearRetry();
    this.starting = true;
    this.setState('connecting');
    try {
      if (!this.identity) this.identity = loadIdentity();
      if (!this.identity) {
        let registration;
        try {
          registration = await registerChatUser();
        } catch (err) {
          if (this.finished) return;
          if (err instanceof HttpError && (err.status === 401 || err.status === 403)) this.ban();
          else this.scheduleRetry();
          return;
        }
        if (this.finished) return;
        this.identity = {
          id: registration.id,
          accessToken: registration.accessToken,
          displayName: registration.displayName,
        };
        saveIdentity(this.identity);
        this.callbacks.onIdentity?.(this.identity);
      }
      this.connect();
    } finally {
      this.starting = false;
    }
  }

  private connect(): void {
    if (this.finished || !this.identity) return;
    this.setState('connecting');
    let opened = false;
    let socket: WebSocket;
    try {
      socket = new WebSocket(socketUrl(window.location, this.identity.accessToken, this.options.socketHostOverride));
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.addEventListener('open', () => {
      if (this.socket !== socket) return;
      opened = true;
      this.setState('open');
      void this.refreshHistory();
    });
    socket.addEventListener('message', (event: MessageEvent) => {
      if (this.socket !== socket) return;
      this.handleEvents(splitFrame(event.data));
    });
    socket.addEventListener('close', () => {
      if (this.socket !== socket) return;
      this.socket = null;
      void this.afterClose(opened);
    });
  }

  private handleEvents(events: ChatEvent[]): void {
    if (events.length === 0) return;
    for (const event of events) {
      switch (event.type) {
        case EventType.CONNECTED_USER_INFO:
          // A working session: reset the backoff and remember who the server says we are.
          this.attempt = 0;
          this.reregistrations = 0;
          if (event.user && this.identity) {
            const id = event.user.id == null ? this.identity.id : String(event.user.id);
            const displayName = event.user.displayName ?? this.identity.displayName;
            if (id !== this.identity.id || displayName !== this.identity.displayName) {
              this.identity = { ...this.identity, id, displayName };
              saveIdentity(this.identity);
              this.callbacks.onIdentity?.(this.identity);
            }
          }
          break;
        case EventType.ERROR_NEEDS_REGISTRATION:
          this.needsRegistration = true;
          break;
        case EventType.ERROR_USER_DISABLED:
          this.ban();
          break;
        case EventType.PING:
          this.send({ type: 'PONG' });
          break;
      }
    }
    this.callbacks.onEvents(events);
    if (this.needsRegistration) this.socket?.close();
  }

  private async afterClose(opened: boolean): Promise<void> {
    if (this.finished) return;
    if (this.needsRegistration) {
      // The server does not know our token (a new database, a deleted user): register again, keeping
      // the name we had. Owncast's client does the same.
      this.needsRegistration = false;
      const previousName = this.identity?.displayName;
      this.identity = null;
      saveIdentity(null);
      if (this.reregistrations++ < MAX_QUICK_REREGISTRATIONS) {
        this.setState('connecting');
        try {
          const registration = await registerChatUser(previousName);
          if (this.finished) return;
          this.identity = { id: registration.id, accessToken: registration.accessToken, displayName: registration.displayName };
          saveIdentity(this.identity);
          this.callbacks.onIdentity?.(this.identity);
          this.connect();
        } catch (err) {
          if (this.finished) return;
          if (err instanceof HttpError && (err.status === 401 || err.status === 403)) this.ban();
          else this.scheduleRetry();
        }
        return;
      }
      this.scheduleRetry();
      return;
    }
    if (!opened && this.identity) {
      // Refused before it opened: banned (403 on /ws, 401 on /api/chat), or just unreachable?
      try {
        await fetchChatHistory(this.identity.accessToken);
      } catch (err) {
        if (this.finished) return;
        if (err instanceof HttpError && (err.status === 401 || err.status === 403)) {
          this.ban();
          return;
        }
      }
      if (this.finished) return;
    }
    this.scheduleRetry();
  }

  private ban(): void {
    if (this.state === 'stopped') return;
    this.clearRetry();
    const socket = this.socket;
    this.socket = null;
    socket?.close();
    this.setState('banned');
  }

  private scheduleRetry(): void {
    if (this.finished) return;
    this.clearRetry();
    const delay = backoffDelay(this.attempt++, this.options.random);
    this.setState('closed', delay);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.start();
    }, delay);
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** Skips the wait when closed (the stream went live, the network came back). */
  reconnectNow(): void {
    if (this.state === 'closed' && this.retryTimer !== null) {
      this.attempt = 0;
      void this.start();
    }
  }

  /** GET /api/chat and hand the list to the panel; errors are left to the socket to explain. */
  async refreshHistory(): Promise<void> {
    const token = this.identity?.accessToken;
    if (!token) return;
    try {
      const events = await fetchChatHistory(token);
      if (!this.finished && this.identity?.accessToken === token) this.callbacks.onHistory(events);
    } catch {
      /* the socket decides whether this is a ban */
    }
  }

  /** Sends one event (one JSON object per frame, as Owncast expects). False when not connected. */
  send(event: Record<string, unknown>): boolean {
    const socket = this.socket;
    if (!socket || socket.readyState !== 1 || this.state !== 'open') return false;
    try {
      socket.send(JSON.stringify(event));
      return true;
    } catch {
      return false;
    }
  }

  stop(): void {
    this.clearRetry();
    this.state = 'stopped';
    const socket = this.socket;
    this.socket = null;
    socket?.close();
    this.callbacks.onState('stopped');
  }
}
