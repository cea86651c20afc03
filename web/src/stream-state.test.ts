import { describe, expect, it, vi } from 'vitest';
import { clockOffsetMs, stateAnnouncement, stateFromStatus, StatusWatcher, viewerCountText } from './stream-state';
import type { Status } from './types';

const online = (extra: Partial<Status> = {}): Status => ({ online: true, viewerCount: 3, ...extra });
const offline = (extra: Partial<Status> = {}): Status => ({ online: false, ...extra });

describe('stateFromStatus', () => {
  it('follows `online`', () => {
    expect(stateFromStatus(online(), 'offline')).toBe('live');
    expect(stateFromStatus(offline(), 'live')).toBe('offline');
  });

  it('keeps the previous state when a poll failed', () => {
    expect(stateFromStatus(null, 'live')).toBe('live');
    expect(stateFromStatus(undefined, 'offline')).toBe('offline');
  });

  it('treats anything but online === true as offline', () => {
    expect(stateFromStatus({ online: 'yes' } as unknown as Status, 'live')).toBe('offline');
  });
});

describe('viewerCountText', () => {
  it('shows the count while live', () => {
    expect(viewerCountText({}, online({ viewerCount: 1 }))).toBe('1 viewer');
    expect(viewerCountText(null, online({ viewerCount: 1234 }))).toBe('1,234 viewers');
    // Counted before this page's first ping: the reader is a viewer too.
    expect(viewerCountText({}, online({ viewerCount: 0 }))).toBe('1 viewer');
  });

  it('hides it when the operator hides it, when offline, or when the server omits it', () => {
    expect(viewerCountText({ hideViewerCount: true }, online({ viewerCount: 5 }))).toBeNull();
    expect(viewerCountText({}, offline({ viewerCount: 5 }))).toBeNull();
    expect(viewerCountText({}, online({ viewerCount: undefined }))).toBeNull();
  });
});

describe('clockOffsetMs', () => {
  it('compares the server time with the request midpoint', () => {
    const status = online({ serverTime: new Date(10_500).toISOString() });
    expect(clockOffsetMs(status, 9_000, 10_000)).toBe(1000);
    expect(clockOffsetMs(online(), 0, 0)).toBeNull();
    expect(clockOffsetMs(online({ serverTime: 'nonsense' }), 0, 0)).toBeNull();
  });
});

describe('StatusWatcher', () => {
  it('reports the first state and then only changes', async () => {
    const responses: Array<Status | Error> = [offline(), offline(), online(), new Error('down'), online(), offline()];
    const changes: string[] = [];
    const polled: Array<Status | null> = [];
    const watcher = new StatusWatcher({
      fetchStatus: async () => {
        const next = responses.shift()!;
        if (next instanceof Error) throw next;
        return next;
      },
      onStatus: (s) => polled.push(s),
      onStateChange: (state) => changes.push(state),
    });
    for (let i = 0; i < 6; i++) await watcher.poll();
    expect(changes).toEqual(['offline', 'live', 'offline']);
    expect(polled).toHaveLength(6);
    expect(polled[3]).toBeNull();
    expect(watcher.state).toBe('offline');
  });

  it('polls on an interval until stopped', async () => {
    vi.useFakeTimers();
    try {
      const fetchStatus = vi.fn(async () => offline());
      const watcher = new StatusWatcher({ fetchStatus, onStateChange: () => {}, intervalMs: 5000 });
      watcher.start();
      await vi.advanceTimersByTimeAsync(0);
      expect(fetchStatus).toHaveBeenCalledTimes(1);
      await vi.advanceTimersByTimeAsync(5000);
      expect(fetchStatus).toHaveBeenCalledTimes(2);
      watcher.stop();
      await vi.advanceTimersByTimeAsync(20_000);
      expect(fetchStatus).toHaveBeenCalledTimes(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('announces states in words', () => {
    expect(stateAnnouncement('live')).toMatch(/live/);
    expect(stateAnnouncement('offline')).toMatch(/offline/);
  });
});
