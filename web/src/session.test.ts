import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Player } from './player';
import { METRICS_INTERVAL_MS, PING_INTERVAL_MS, type Session, startSession, STATUS_INTERVAL_MS } from './session';

// A stand-in for hls.js that records what the player asks of it.
vi.mock('hls.js/light', () => {
  type Handler = (event: string, data: unknown) => void;
  class FakeHls {
    static Events = {
      MANIFEST_PARSED: 'hlsManifestParsed',
      FRAG_LOADED: 'hlsFragLoaded',
      LEVEL_SWITCHED: 'hlsLevelSwitched',
      ERROR: 'hlsError',
    };
    static ErrorTypes = { MEDIA_ERROR: 'mediaError', NETWORK_ERROR: 'networkError' };
    static instances: FakeHls[] = [];
    static isSupported() {
      return true;
    }
    handlers = new Map<string, Handler[]>();
    // hls.js sorts levels; here the API's variant 1 is level 0 and variant 0 is level 1.
    levels = [{ uri: 'http://localhost/hls/1/stream.m3u8' }, { uri: 'http://localhost/hls/0/stream.m3u8' }];
    nextLevel = -1;
    bandwidthEstimate = 3_000_000;
    latency = 2;
    playingDate: Date | null = null;
    liveSyncPosition: number | null = null;
    source = '';
    media: unknown = null;
    destroyed = false;
    constructor(public config: Record<string, unknown>) {
      FakeHls.instances.push(this);
    }
    on(event: string, handler: Handler) {
      this.handlers.set(event, [...(this.handlers.get(event) ?? []), handler]);
    }
    emit(event: string, data: unknown = {}) {
      for (const handler of this.handlers.get(event) ?? []) handler(event, data);
    }
    loadSource(src: string) {
      this.source = src;
    }
    attachMedia(media: unknown) {
      this.media = media;
    }
    recoverMediaError() {}
    destroy() {
      this.destroyed = true;
    }
  }
  return { default: FakeHls };
});

interface FakeHlsInstance {
  config: Record<string, unknown>;
  source: string;
  nextLevel: number;
  destroyed: boolean;
  emit(event: string, data?: unknown): void;
}

async function hlsInstances(): Promise<FakeHlsInstance[]> {
  const module = (await import('hls.js/light')) as unknown as { default: { instances: FakeHlsInstance[] } };
  return module.default.instances;
}

let online = false;
let calls: Array<{ url: string; init?: RequestInit }> = [];
let session: Session | null = null;

beforeEach(async () => {
  vi.useFakeTimers();
  online = false;
  calls = [];
  (await hlsInstances()).length = 0;
  delete window.owncastd;
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init?: RequestInit) => {
      calls.push({ url, init });
      if (url === '/api/status') {
        return new Response(JSON.stringify({ online, viewerCount: 1, serverTime: new Date().toISOString() }));
      }
      return new Response('{}');
    }),
  );
  vi.spyOn(HTMLMediaElement.prototype, 'play').mockResolvedValue(undefined);
  vi.spyOn(HTMLMediaElement.prototype, 'load').mockImplementation(() => {});
});

afterEach(() => {
  session?.stop();
  session = null;
  vi.useRealTimers();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

async function settle(ms = 0): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
  await vi.dynamicImportSettled();
  await vi.advanceTimersByTimeAsync(0);
}

function makePlayer(): Player {
  const player = new Player();
  document.body.replaceChildren(player.root);
  return player;
}

describe('viewing session', () => {
  it('switches between offline and live without a reload', async () => {
    const player = makePlayer();
    session = startSession({ player, offlineMessage: () => '<p>Back on Sunday</p>' });
    await settle();

    expect(window.owncastd?.state).toBe('offline');
    expect(player.root.dataset.state).toBe('offline');
    expect(player.root.querySelector('.offline-card')?.hasAttribute('hidden')).toBe(false);
    expect(player.root.querySelector('.offline-message')?.textContent).toBe('Back on Sunday');
    expect(player.root.querySelector<HTMLImageElement>('.offline-thumbnail')?.getAttribute('src')).toMatch(
      /^\/thumbnail\.jpg\?t=\d+$/,
    );
    expect(calls.some((c) => c.url === '/api/ping')).toBe(false);

    online = true;
    await settle(STATUS_INTERVAL_MS);
    const [hls] = await hlsInstances();
    expect(window.owncastd?.state).toBe('live');
    expect(window.owncastd?.hls).toBe(hls);
    expect(hls.config.lowLatencyMode).toBe(true);
    expect(hls.config.maxLiveSyncPlaybackRate).toBe(1.2);
    expect(hls.source).toBe('/hls/stream.m3u8');
    expect(player.root.dataset.state).toBe('live');
    expect(player.root.querySelector('.offline-card')?.hasAttribute('hidden')).toBe(true);
    // Muted autoplay with an unmute button.
    expect(player.video.muted).toBe(true);
    expect(player.root.querySelector('.unmute-overlay')?.hasAttribute('hidden')).toBe(false);
    expect(calls.filter((c) => c.url === '/api/ping')).toHaveLength(1);
    await settle(PING_INTERVAL_MS);
    expect(calls.filter((c) => c.url === '/api/ping').length).toBeGreaterThanOrEqual(2);

    online = false;
    await settle(STATUS_INTERVAL_MS);
    expect(window.owncastd?.state).toBe('offline');
    expect(window.owncastd?.hls).toBeUndefined();
    expect(hls.destroyed).toBe(true);
    const pings = calls.filter((c) => c.url === '/api/ping').length;
    await settle(PING_INTERVAL_MS * 2);
    expect(calls.filter((c) => c.url === '/api/ping')).toHaveLength(pings);
  });

  it('maps the quality menu onto hls.js levels', async () => {
    const player = makePlayer();
    player.setVariants([
      { index: 0, name: '1080p' },
      { index: 1, name: '480p' },
    ]);
    online = true;
    session = startSession({ player, offlineMessage: () => undefined });
    await settle();
    const [hls] = await hlsInstances();
    hls.emit('hlsManifestParsed');

    const select = player.root.querySelector('select')!;
    const label = player.root.querySelector(`label[for="${select.id}"]`);
    expect(label?.textContent).toBe('Quality');
    expect(select.closest('.quality')?.hasAttribute('hidden')).toBe(false);
    expect(Array.from(select.options, (o) => o.text)).toEqual(['Auto', '1080p', '480p']);

    select.value = '0';
    select.dispatchEvent(new Event('change'));
    expect(hls.nextLevel).toBe(1);
    select.value = '-1';
    select.dispatchEvent(new Event('change'));
    expect(hls.nextLevel).toBe(-1);
  });

  it('posts playback metrics while playing', async () => {
    const player = makePlayer();
    Object.defineProperty(player.video, 'paused', { get: () => false });
    Object.defineProperty(player.video, 'readyState', { get: () => 4 });
    online = true;
    session = startSession({ player, offlineMessage: () => undefined });
    await settle();
    const [hls] = await hlsInstances();
    const stats = { loading: { start: 1000, first: 1010, end: 1250 } };
    hls.emit('hlsFragLoaded', { frag: { stats }, part: null });
    hls.emit('hlsLevelSwitched');
    hls.emit('hlsError', { fatal: false, type: 'networkError' });

    await settle(METRICS_INTERVAL_MS);
    const post = calls.find((c) => c.url === '/api/metrics/playback');
    expect(post?.init?.method).toBe('POST');
    const body = JSON.parse(String(post?.init?.body));
    expect(body).toEqual({
      bandwidth: 3000,
      latency: 2,
      errors: 1,
      downloadDuration: 0.25,
      qualityVariantChanges: 0,
    });
  });
});
