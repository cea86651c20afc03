/** The shapes of Owncast's public API responses that the viewer reads (release 0.2 field names). */

export interface SocialHandle {
  platform: string;
  url: string;
  icon?: string;
}

export interface FederationInfo {
  enabled: boolean;
  account?: string;
  followerCount?: number;
}

/** GET /api/config. Every field is optional here: the page must survive an older or partial server. */
export interface WebConfig {
  name?: string;
  summary?: string;
  logo?: string;
  tags?: string[];
  version?: string;
  nsfw?: boolean;
  socialHandles?: SocialHandle[];
  extraPageContent?: string;
  streamTitle?: string;
  offlineMessage?: string;
  socketHostOverride?: string;
  customStyles?: string;
  appearanceVariables?: Record<string, string>;
  maxSocketPayloadSize?: number;
  hideViewerCount?: boolean;
  chatDisabled?: boolean;
  federation?: FederationInfo;
}

/** GET /api/status. `viewerCount` is absent when the operator hides it. */
export interface Status {
  online: boolean;
  viewerCount?: number;
  serverTime?: string;
  lastConnectTime?: string | null;
  lastDisconnectTime?: string | null;
  versionNumber?: string;
  streamTitle?: string;
}

/** One entry of GET /api/video/variants. */
export interface Variant {
  index: number;
  name: string;
}

/** POST /api/metrics/playback body. Units follow Owncast's player: kbit/s, seconds, counts. */
export interface PlaybackMetrics {
  bandwidth: number;
  latency: number;
  errors: number;
  downloadDuration: number;
  qualityVariantChanges: number;
}

export type StreamState = 'offline' | 'live';
