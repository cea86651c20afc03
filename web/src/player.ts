/**
 * The video player: hls.js (light build, low-latency mode) or the browser's own HLS, our own controls
 * (real buttons and a select), the offline card, and the playback samples that metrics report.
 */
import type Hls from 'hls.js/light';
import type { HlsConfig } from 'hls.js/light';
import { publishDebug } from './debug';
import { h, icon, setSafeHtml } from './dom';
import { computeLatencySeconds, PlaybackMetricsTracker } from './metrics';
import type { Variant } from './types';
import { AUTO, buildVariantOptions, hasQualityChoice, levelForVariant } from './variants';

export const STREAM_URL = '/hls/stream.m3u8';
const HLS_MIME = 'application/vnd.apple.mpegurl';
const RETRY_DELAY_MS = 3000;
const DEFAULT_OFFLINE_MESSAGE = 'This stream is offline. Check back soon!';

const ICONS = {
  play: 'M8 5l11 7-11 7z',
  pause: 'M9 5v14M15 5v14',
  volume: 'M4 10v4h4l5 4V6L8 10H4z M16.5 9a4 4 0 0 1 0 6 M19 6.5a7.5 7.5 0 0 1 0 11',
  muted: 'M4 10v4h4l5 4V6L8 10H4z M17 10l4 4 M21 10l-4 4',
  enterFullscreen: 'M4 9V4h5 M20 9V4h-5 M4 15v5h5 M20 15v5h-5',
  exitFullscreen: 'M9 4v5H4 M15 4v5h5 M9 20v-5H4 M15 20v-5h5',
};

type HlsModule = typeof import('hls.js/light');
let hlsModule: Promise<HlsModule> | null = null;
/** hls.js is loaded only by pages that play video, and only once. */
function loadHls(): Promise<HlsModule> {
  hlsModule ??= import('hls.js/light');
  return hlsModule;
}

export interface PlayerOptions {
  src?: string;
  /** Called whenever the hls.js instance appears or goes away (window.owncastd.hls is kept current too). */
  onHlsChange?: (hls: Hls | undefined) => void;
  /** Server clock minus local clock (ms), for glass-to-glass latency. */
  clockOffsetMs?: () => number;
  hlsConfig?: Partial<HlsConfig>;
}

interface WebkitVideo extends HTMLVideoElement {
  webkitEnterFullscreen?: () => void;
  webkitExitFullscreen?: () => void;
  webkitDisplayingFullscreen?: boolean;
}

function controlButton(className: string, label: string, path: string): HTMLButtonElement {
  const button = h('button', { type: 'button', class: `control ${className}`, 'aria-label': label, title: label });
  button.append(icon(path));
  return button;
}

function setButton(button: HTMLButtonElement, label: string, path: string): void {
  button.setAttribute('aria-label', label);
  button.title = label;
  button.replaceChildren(icon(path));
}

export class Player {
  readonly root: HTMLElement;
  readonly video: WebkitVideo;
  readonly metrics = new PlaybackMetricsTracker();
  private readonly offlineCard: HTMLElement;
  private readonly offlineMessage: HTMLElement;
  private readonly thumbnail: HTMLImageElement;
  private readonly notice: HTMLElement;
  private readonly unmuteOverlay: HTMLButtonElement;
  private readonly playOverlay: HTMLButtonElement;
  private readonly playButton: HTMLButtonElement;
  private readonly muteButton: HTMLButtonElement;
  private readonly qualityWrap: HTMLElement;
  private readonly qualitySelect: HTMLSelectElement;
  private readonly fullscreenButton: HTMLButtonElement;
  private readonly options: PlayerOptions;
  private hls: Hls | null = null;
  private native = false;
  private live = false;
  private generation = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private selectedVariant = AUTO;

  constructor(options: PlayerOptions = {}) {
    this.options = options;
    const video = h('video', {
      class: 'video',
      playsinline: true,
      'webkit-playsinline': true,
      preload: 'none',
      'aria-label': 'Live stream video',
    }) as WebkitVideo;
    video.muted = true; // browsers allow muted autoplay; the unmute button is one press away
    video.autoplay = true;
    this.video = video;

    this.thumbnail = h('img', { class: 'offline-thumbnail', alt: 'The last frame of the stream', hidden: true });
    this.thumbnail.addEventListener('load', () => (this.thumbnail.hidden = false));
    this.thumbnail.addEventListener('error', () => (this.thumbnail.hidden = true));
    this.offlineMessage = h('div', { class: 'offline-message' });
    this.offlineCard = h(
      'div',
      { class: 'offline-card' },
      this.thumbnail,
      h('div', { class: 'offline-text' }, h('p', { class: 'offline-label' }, 'Offline'), this.offlineMessage),
    );
    this.notice = h('p', { class: 'player-notice', hidden: true });

    this.unmuteOverlay = h('button', { type: 'button', class: 'overlay-button unmute-overlay', hidden: true });
    this.unmuteOverlay.append(icon(ICONS.muted), h('span', {}, 'Unmute'));
    this.unmuteOverlay.addEventListener('click', () => {
      this.setMuted(false);
      this.muteButton.focus(); // the overlay disappears; keep keyboard focus on its twin in the bar
    });

    this.playOverlay = h('button', { type: 'button', class: 'overlay-button play-overlay', hidden: true });
    this.playOverlay.append(icon(ICONS.play), h('span', {}, 'Play'));
    this.playOverlay.addEventListener('click', () => void this.play());

    this.playButton = controlButton('play-button', 'Pause', ICONS.pause);
    this.playButton.addEventListener('click', () => (video.paused ? void this.play() : video.pause()));
    this.muteButton = controlButton('mute-button', 'Unmute', ICONS.muted);
    this.muteButton.addEventListener('click', () => this.setMuted(!video.muted));

    const selectId = `quality-${Math.random().toString(36).slice(2, 8)}`;
    this.qualitySelect = h('select', { id: selectId, class: 'quality-select' });
    this.qualitySelect.addEventListener('change', () => this.selectVariant(Number(this.qualitySelect.value)));
    this.qualityWrap = h(
      'div',
      { class: 'quality', hidden: true },
      h('label', { for: selectId }, 'Quality'),
      this.qualitySelect,
    );

    this.fullscreenButton = controlButton('fullscreen-button', 'Full screen', ICONS.enterFullscreen);
    this.fullscreenButton.addEventListener('click', () => this.toggleFullscreen());

    const controls = h(
      'div',
      { class: 'controls', role: 'group', 'aria-label': 'Player controls' },
      this.playButton,
      this.muteButton,
      h('span', { class: 'live-dot', 'aria-hidden': 'true' }, 'LIVE'), // shown only while live (CSS)
      h('span', { class: 'spacer' }),
      this.qualityWrap,
      this.fullscreenButton,
    );

    this.root = h(
      'div',
      { class: 'player', 'data-state': 'offline' },
      h('div', { class: 'video-frame' }, video, this.offlineCard, this.notice, this.unmuteOverlay, this.playOverlay),
      controls,
    );

    video.addEventListener('volumechange', () => this.syncButtons());
    video.addEventListener('play', () => this.onPlay());
    video.addEventListener('pause', () => this.syncButtons());
    video.addEventListener('playing', () => {
      this.playOverlay.hidden = true;
      this.notice.hidden = true;
    });
    video.addEventListener('error', () => {
      if (this.native && this.live) {
        this.metrics.recordError();
        this.scheduleRetry();
      }
    });
    const doc = this.root.ownerDocument;
    doc.addEventListener('fullscreenchange', () => this.syncButtons());
    video.addEventListener('webkitendfullscreen', () => this.syncButtons());
    if (!doc.fullscreenEnabled && !video.webkitEnterFullscreen) this.fullscreenButton.hidden = true;
    this.syncButtons();
  }

  /** Whether video is actually moving (for metrics: nothing is reported while paused or stalled). */
  get playing(): boolean {
    return this.live && !this.video.paused && !this.video.ended && this.video.readyState >= 3;
  }

  get hlsInstance(): Hls | null {
    return this.hls;
  }

  /** The stream went live: start loading and (muted) playing. */
  async goLive(): Promise<void> {
    if (this.live) return;
    this.live = true;
    this.root.dataset.state = 'live';
    this.offlineCard.hidden = true;
    this.metrics.resetSession();
    this.syncButtons();
    await this.load();
  }

  /** The stream went offline: stop hls.js, show the offline message and the last thumbnail. */
  goOffline(offlineMessageHtml?: string): void {
    this.live = false;
    this.root.dataset.state = 'offline';
    this.teardown();
    this.setOfflineMessage(offlineMessageHtml);
    this.thumbnail.src = `/thumbnail.jpg?t=${Date.now()}`; // cache-busted; hidden again if it 404s
    this.offlineCard.hidden = false;
    this.notice.hidden = true;
    this.syncButtons();
  }

  setOfflineMessage(html?: string): void {
    if (html && html.trim() !== '') setSafeHtml(this.offlineMessage, html);
    else this.offlineMessage.replaceChildren(h('p', {}, DEFAULT_OFFLINE_MESSAGE));
  }

  /** Fills the quality menu from GET /api/video/variants (hidden when there is nothing to choose). */
  setVariants(variants: Variant[]): void {
    const options = buildVariantOptions(variants);
    this.qualitySelect.replaceChildren(
      ...options.map((o) => h('option', { value: o.value, selected: o.value === this.selectedVariant }, o.label)),
    );
    this.updateQualityVisibility();
  }

  /** Picks a variant (AUTO = adaptive). Applied at the next fragment to avoid a stall. */
  selectVariant(variantIndex: number): void {
    this.selectedVariant = variantIndex;
    this.qualitySelect.value = String(variantIndex);
    const hls = this.hls;
    if (!hls || hls.levels.length === 0) return; // applied when the manifest arrives
    const level = levelForVariant(hls.levels, variantIndex);
    if (level === -2) return;
    hls.nextLevel = level;
  }

  setMuted(muted: boolean): void {
    this.video.muted = muted;
    if (!muted && this.video.volume === 0) this.video.volume = 1;
    this.syncButtons();
  }

  /** One latency sample (seconds), or null when not playing. */
  sampleLatency(): number | null {
    if (!this.playing) return null;
    const hls = this.hls;
    const playingDate = hls ? hls.playingDate : this.nativePlayingDate();
    return computeLatencySeconds({
      playingDateMs: playingDate ? playingDate.getTime() : null,
      nowMs: Date.now(),
      clockOffsetMs: this.options.clockOffsetMs?.() ?? 0,
      hlsLatencySeconds: hls ? hls.latency : null,
    });
  }

  private nativePlayingDate(): Date | null {
    const video = this.video as HTMLVideoElement & { getStartDate?: () => Date };
    const start = video.getStartDate?.();
    if (!start || Number.isNaN(start.getTime())) return null;
    return new Date(start.getTime() + video.currentTime * 1000);
  }

  async play(): Promise<void> {
    try {
      await this.video.play();
      this.playOverlay.hidden = true;
    } catch {
      // Autoplay refused (even muted, e.g. data-saver): offer a real button instead.
      if (this.live) this.playOverlay.hidden = false;
    }
    this.syncButtons();
  }

  private async load(): Promise<void> {
    const generation = ++this.generation;
    const src = this.options.src ?? STREAM_URL;
    let module: HlsModule | null = null;
    try {
      module = await loadHls();
    } catch {
      module = null;
    }
    if (generation !== this.generation || !this.live) return;
    const Hls = module?.default;
    if (Hls && Hls.isSupported()) {
      this.native = false;
      this.attachHls(Hls, src);
    } else if (this.video.canPlayType(HLS_MIME)) {
      this.native = true;
      this.video.src = src;
      this.updateQualityVisibility();
      void this.play();
    } else {
      this.showNotice('This browser cannot play live video. Try a recent Firefox, Chrome or Safari.');
    }
  }

  private attachHls(Hls: HlsModule['default'], src: string): void {
    const hls = new Hls({
      lowLatencyMode: true,
      enableWorker: false, // fMP4 needs no transmuxing; the ESM light build has no inline worker
      liveDurationInfinity: true,
      backBufferLength: 30,
      // Play up to 1.2x after a slow start or a stall to get back to the target latency
      // (hls.js's default 1 never catches up: level 0 measured 1.76 s instead of 1.30 s).
      maxLiveSyncPlaybackRate: 1.2,
      ...this.options.hlsConfig,
    });
    const { Events, ErrorTypes } = Hls;
    hls.on(Events.MANIFEST_PARSED, () => {
      if (this.selectedVariant !== AUTO) this.selectVariant(this.selectedVariant);
      this.updateQualityVisibility();
      void this.play();
    });
    hls.on(Events.FRAG_LOADED, (_event, data) => {
      const stats = (data.part ?? data.frag).stats;
      const ms = stats.loading.end - stats.loading.start;
      if (ms > 0) this.metrics.recordDownload(ms);
      this.metrics.recordBandwidth(hls.bandwidthEstimate);
    });
    hls.on(Events.LEVEL_SWITCHED, () => this.metrics.recordLevelSwitch());
    hls.on(Events.ERROR, (_event, data) => {
      this.metrics.recordError();
      if (!data.fatal) return;
      if (data.type === ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
        return;
      }
      // Network or other fatal errors: the playlist may not exist yet (the stream just started) or the
      // server restarted. Start over in a moment if we are still live.
      this.scheduleRetry();
    });
    this.hls = hls;
    hls.loadSource(src);
    hls.attachMedia(this.video);
    publishDebug({ hls });
    this.options.onHlsChange?.(hls);
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== null) return;
    this.teardown(false);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.live) void this.load();
    }, RETRY_DELAY_MS);
  }

  private teardown(cancelRetry = true): void {
    this.generation++;
    if (cancelRetry && this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    if (this.hls) {
      this.hls.destroy();
      this.hls = null;
      publishDebug({ hls: undefined });
      this.options.onHlsChange?.(undefined);
    }
    if (this.video.getAttribute('src')) {
      this.video.removeAttribute('src');
      try {
        this.video.load();
      } catch {
        /* jsdom and some browsers throw when there is no source */
      }
    }
    this.native = false;
    this.updateQualityVisibility();
    this.playOverlay.hidden = true;
  }

  private onPlay(): void {
    // Resuming a live stream after a pause: jump back to the live edge instead of lagging behind.
    const edge = this.hls?.liveSyncPosition;
    if (typeof edge === 'number' && edge - this.video.currentTime > 10) this.video.currentTime = edge;
    this.syncButtons();
  }

  private showNotice(text: string): void {
    this.notice.textContent = text;
    this.notice.hidden = false;
  }

  private updateQualityVisibility(): void {
    const options = Array.from(this.qualitySelect.options);
    const hasChoice = hasQualityChoice(options.map((o) => ({ value: Number(o.value), label: o.text })));
    // Only hls.js can switch levels; native HLS picks its own.
    this.qualityWrap.hidden = !(hasChoice && this.live && !this.native);
  }

  private isFullscreen(): boolean {
    const doc = this.root.ownerDocument;
    return doc.fullscreenElement === this.root || this.video.webkitDisplayingFullscreen === true;
  }

  private toggleFullscreen(): void {
    const doc = this.root.ownerDocument;
    if (this.isFullscreen()) {
      if (doc.fullscreenElement) void doc.exitFullscreen();
      else this.video.webkitExitFullscreen?.();
      return;
    }
    if (doc.fullscreenEnabled && this.root.requestFullscreen) {
      void this.root.requestFullscreen().catch(() => this.video.webkitEnterFullscreen?.());
    } else {
      this.video.webkitEnterFullscreen?.(); // iPhone: only the video element can go full screen
    }
  }

  private syncButtons(): void {
    const video = this.video;
    setButton(this.playButton, video.paused ? 'Play' : 'Pause', video.paused ? ICONS.play : ICONS.pause);
    setButton(this.muteButton, video.muted ? 'Unmute' : 'Mute', video.muted ? ICONS.muted : ICONS.volume);
    const fs = this.isFullscreen();
    setButton(this.fullscreenButton, fs ? 'Exit full screen' : 'Full screen', fs ? ICONS.exitFullscreen : ICONS.enterFullscreen);
    this.unmuteOverlay.hidden = !(this.live && video.muted);
    this.playButton.disabled = !this.live;
  }
}
