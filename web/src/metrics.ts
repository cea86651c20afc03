/** Playback metrics for POST /api/metrics/playback: sample collection and the payload builder. */
import type { PlaybackMetrics } from './types';

/** Samples gathered between two reports. Raw units: bits/s, milliseconds, seconds. */
export interface MetricsSamples {
  bandwidthBps: number[];
  downloadMs: number[];
  latencySeconds: number[];
  errors: number;
  qualityVariantChanges: number;
}

export function emptySamples(): MetricsSamples {
  return { bandwidthBps: [], downloadMs: [], latencySeconds: [], errors: 0, qualityVariantChanges: 0 };
}

function average(values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v) && v >= 0);
  return finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : 0;
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;

/**
 * The report body in Owncast's units: bandwidth in kbit/s, latency and download duration in seconds
 * (averages over the interval), errors and quality changes as counts. Null when there is nothing to
 * report yet (no segment downloaded), so the server's averages are not dragged down by zeros.
 */
export function buildPlaybackMetrics(samples: MetricsSamples): PlaybackMetrics | null {
  if (samples.downloadMs.length === 0 && samples.bandwidthBps.length === 0) return null;
  return {
    bandwidth: round3(average(samples.bandwidthBps) / 1000),
    latency: round3(average(samples.latencySeconds)),
    errors: Math.max(0, Math.floor(samples.errors)),
    downloadDuration: round3(average(samples.downloadMs) / 1000),
    qualityVariantChanges: Math.max(0, Math.floor(samples.qualityVariantChanges)),
  };
}

/**
 * Glass-to-glass latency in seconds: the server stamps each segment with its ingest wall clock
 * (EXT-X-PROGRAM-DATE-TIME), so now (corrected to the server's clock) minus the playing date is the
 * delay. Falls back to hls.js's own live-edge latency when there is no usable date.
 */
export function computeLatencySeconds(input: {
  playingDateMs?: number | null;
  nowMs: number;
  clockOffsetMs?: number;
  hlsLatencySeconds?: number | null;
}): number | null {
  const { playingDateMs, nowMs, clockOffsetMs = 0, hlsLatencySeconds } = input;
  if (typeof playingDateMs === 'number' && Number.isFinite(playingDateMs) && playingDateMs > 0) {
    const seconds = (nowMs + clockOffsetMs - playingDateMs) / 1000;
    if (seconds >= 0 && seconds < 3600) return seconds;
  }
  if (typeof hlsLatencySeconds === 'number' && Number.isFinite(hlsLatencySeconds) && hlsLatencySeconds >= 0) {
    return hlsLatencySeconds;
  }
  return null;
}

const MAX_SAMPLES = 120;

function push(list: number[], value: number): void {
  if (!Number.isFinite(value) || value < 0) return;
  list.push(value);
  if (list.length > MAX_SAMPLES) list.shift();
}

/** Accumulates samples for one reporting interval; `take()` returns the payload and starts a new one. */
export class PlaybackMetricsTracker {
  private samples = emptySamples();
  private sawFirstLevel = false;

  recordBandwidth(bps: number): void {
    push(this.samples.bandwidthBps, bps);
  }

  recordDownload(ms: number): void {
    push(this.samples.downloadMs, ms);
  }

  recordLatency(seconds: number | null): void {
    if (seconds !== null) push(this.samples.latencySeconds, seconds);
  }

  recordError(): void {
    this.samples.errors += 1;
  }

  /** The first level switch is the player picking its start level, not a change; it is not counted. */
  recordLevelSwitch(): void {
    if (!this.sawFirstLevel) {
      this.sawFirstLevel = true;
      return;
    }
    this.samples.qualityVariantChanges += 1;
  }

  /** Forget the start level, e.g. when playback restarts after the stream went offline. */
  resetSession(): void {
    this.sawFirstLevel = false;
    this.samples = emptySamples();
  }

  take(): PlaybackMetrics | null {
    const payload = buildPlaybackMetrics(this.samples);
    if (payload) this.samples = emptySamples();
    return payload;
  }
}
