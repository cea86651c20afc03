import { describe, expect, it } from 'vitest';
import { buildPlaybackMetrics, computeLatencySeconds, emptySamples, PlaybackMetricsTracker } from './metrics';

describe('buildPlaybackMetrics', () => {
  it('reports nothing before any segment arrived', () => {
    expect(buildPlaybackMetrics(emptySamples())).toBeNull();
  });

  it("averages into Owncast's units: kbit/s, seconds, counts", () => {
    const payload = buildPlaybackMetrics({
      bandwidthBps: [4_000_000, 6_000_000],
      downloadMs: [100, 300],
      latencySeconds: [2, 3],
      errors: 2,
      qualityVariantChanges: 1,
    });
    expect(payload).toEqual({
      bandwidth: 5000,
      latency: 2.5,
      errors: 2,
      downloadDuration: 0.2,
      qualityVariantChanges: 1,
    });
    for (const value of Object.values(payload!)) expect(typeof value).toBe('number');
  });

  it('ignores non-finite and negative samples and rounds to milliseconds', () => {
    const payload = buildPlaybackMetrics({
      bandwidthBps: [NaN, -1, 1234567],
      downloadMs: [Infinity, 123.4567],
      latencySeconds: [],
      errors: 0,
      qualityVariantChanges: 0,
    });
    expect(payload).toEqual({ bandwidth: 1234.567, latency: 0, errors: 0, downloadDuration: 0.123, qualityVariantChanges: 0 });
  });
});

describe('computeLatencySeconds', () => {
  it('uses the playing date against the server-corrected clock', () => {
    expect(computeLatencySeconds({ playingDateMs: 10_000, nowMs: 12_500 })).toBe(2.5);
    // Local clock 1 s behind the server.
    expect(computeLatencySeconds({ playingDateMs: 10_000, nowMs: 11_500, clockOffsetMs: 1000 })).toBe(2.5);
  });

  it('falls back to hls.js latency when the date is missing or implausible', () => {
    expect(computeLatencySeconds({ playingDateMs: null, nowMs: 1, hlsLatencySeconds: 1.8 })).toBe(1.8);
    expect(computeLatencySeconds({ playingDateMs: 20_000, nowMs: 10_000, hlsLatencySeconds: 3 })).toBe(3);
    expect(computeLatencySeconds({ playingDateMs: null, nowMs: 1 })).toBeNull();
    expect(computeLatencySeconds({ nowMs: 1, hlsLatencySeconds: NaN })).toBeNull();
  });
});

describe('PlaybackMetricsTracker', () => {
  it('does not count the start level as a change and resets after each report', () => {
    const tracker = new PlaybackMetricsTracker();
    tracker.recordLevelSwitch();
    tracker.recordLevelSwitch();
    tracker.recordLevelSwitch();
    tracker.recordError();
    tracker.recordBandwidth(2_000_000);
    tracker.recordDownload(500);
    tracker.recordLatency(1.5);
    tracker.recordLatency(null);
    expect(tracker.take()).toEqual({
      bandwidth: 2000,
      latency: 1.5,
      errors: 1,
      downloadDuration: 0.5,
      qualityVariantChanges: 2,
    });
    expect(tracker.take()).toBeNull();
    tracker.recordDownload(100);
    tracker.recordLevelSwitch();
    expect(tracker.take()?.qualityVariantChanges).toBe(1);
  });

  it('forgets the start level after a new session', () => {
    const tracker = new PlaybackMetricsTracker();
    tracker.recordLevelSwitch();
    tracker.resetSession();
    tracker.recordLevelSwitch();
    tracker.recordDownload(100);
    expect(tracker.take()?.qualityVariantChanges).toBe(0);
  });
});
