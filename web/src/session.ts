/**
 * One viewing session: polls /api/status, switches the player between live and offline, pings
 * /api/ping while live (Owncast counts viewers that way) and reports playback metrics while playing.
 */
import { fetchStatus, ping, sendPlaybackMetrics } from './api';
import { publishDebug } from './debug';
import type { Player } from './player';
import { StatusWatcher } from './stream-state';
import type { Status, StreamState } from './types';

export const STATUS_INTERVAL_MS = 5000;
export const PING_INTERVAL_MS = 10_000;
export const METRICS_INTERVAL_MS = 60_000;
export const LATENCY_SAMPLE_MS = 5000;

export interface SessionOptions {
  player: Player;
  /** The offline message HTML to show (read when the stream goes offline). */
  offlineMessage: () => string | undefined;
  onStatus?: (status: Status, state: StreamState) => void;
  onStateChange?: (state: StreamState, status: Status, first: boolean) => void;
}

export interface Session {
  watcher: StatusWatcher;
  stop(): void;
}

export function startSession(options: SessionOptions): Session {
  const { player } = options;
  let pingTimer: ReturnType<typeof setInterval> | null = null;
  let first = true;

  const startPinging = () => {
    if (pingTimer !== null) return;
    void ping().catch(() => {});
    pingTimer = setInterval(() => void ping().catch(() => {}), PING_INTERVAL_MS);
  };
  const stopPinging = () => {
    if (pingTimer !== null) clearInterval(pingTimer);
    pingTimer = null;
  };

  const watcher: StatusWatcher = new StatusWatcher({
    fetchStatus,
    intervalMs: STATUS_INTERVAL_MS,
    onStatus: (status) => {
      if (status) options.onStatus?.(status, watcher.state);
    },
    onStateChange: (state, status) => {
      publishDebug({ state });
      if (state === 'live') {
        startPinging();
        void player.goLive();
      } else {
        stopPinging();
        player.goOffline(options.offlineMessage());
      }
      options.onStateChange?.(state, status, first);
      first = false;
    },
  });

  const latencyTimer = setInterval(() => player.metrics.recordLatency(player.sampleLatency()), LATENCY_SAMPLE_MS);
  const metricsTimer = setInterval(() => {
    if (!player.playing) return;
    const payload = player.metrics.take();
    if (payload) void sendPlaybackMetrics(payload).catch(() => {});
  }, METRICS_INTERVAL_MS);

  publishDebug({ state: 'offline' });
  watcher.start();
  return {
    watcher,
    stop: () => {
      watcher.stop();
      stopPinging();
      clearInterval(latencyTimer);
      clearInterval(metricsTimer);
    },
  };
}
