/** Online/offline tracking from GET /api/status: pure decisions plus a small polling loop. */
import type { Status, StreamState, WebConfig } from './types';

/** The page's state after a status poll; a failed poll (null) keeps the previous state. */
export function stateFromStatus(status: Status | null | undefined, previous: StreamState): StreamState {
  if (!status || typeof status !== 'object') return previous;
  return status.online === true ? 'live' : 'offline';
}

/** The viewer-count text to show, or null when hidden by the operator, offline, or not reported. */
export function viewerCountText(config: WebConfig | null, status: Status | null): string | null {
  if (config?.hideViewerCount) return null;
  if (!status?.online) return null;
  const count = status.viewerCount;
  if (typeof count !== 'number' || !Number.isFinite(count) || count < 0) return null;
  // The one reading this page is watching: a count taken before its first ping says 0.
  const n = Math.max(1, Math.floor(count));
  return `${n.toLocaleString('en-US')} ${n === 1 ? 'viewer' : 'viewers'}`;
}

/** The sentence announced (aria-live) when the state changes. */
export function stateAnnouncement(state: StreamState): string {
  return state === 'live' ? 'The stream is live.' : 'The stream is offline.';
}

/** Server clock minus local clock, in ms, from a status response and the request's timing. */
export function clockOffsetMs(status: Status, sentAtMs: number, receivedAtMs: number): number | null {
  if (!status.serverTime) return null;
  const server = Date.parse(status.serverTime);
  if (Number.isNaN(server)) return null;
  return server - (sentAtMs + receivedAtMs) / 2;
}

export interface StatusWatcherOptions {
  fetchStatus: () => Promise<Status>;
  /** Every poll result (null when the poll failed). */
  onStatus?: (status: Status | null) => void;
  /** Only when the state changes, including the first successful poll. */
  onStateChange: (state: StreamState, status: Status) => void;
  intervalMs?: number;
  now?: () => number;
}

/** Polls /api/status every few seconds and reports state transitions; `poll()` is callable directly. */
export class StatusWatcher {
  state: StreamState = 'offline';
  lastStatus: Status | null = null;
  /** Estimated server clock minus local clock (ms), used for glass-to-glass latency. */
  clockOffset = 0;
  private known = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = true;
  private readonly options: StatusWatcherOptions;

  constructor(options: StatusWatcherOptions) {
    this.options = options;
  }

  async poll(): Promise<StreamState> {
    const now = this.options.now ?? Date.now;
    const sent = now();
    let status: Status | null = null;
    try {
      status = await this.options.fetchStatus();
    } catch {
      status = null;
    }
    this.options.onStatus?.(status);
    if (!status) return this.state;
    this.lastStatus = status;
    const offset = clockOffsetMs(status, sent, now());
    if (offset !== null) this.clockOffset = offset;
    const next = stateFromStatus(status, this.state);
    if (!this.known || next !== this.state) {
      this.known = true;
      this.state = next;
      this.options.onStateChange(next, status);
    }
    return this.state;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const loop = async () => {
      await this.poll();
      if (!this.stopped) this.timer = setTimeout(loop, this.options.intervalMs ?? 5000);
    };
    void loop();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
