/** Calls to the daemon's public Owncast API; each has a deadline and never throws on a bad body. */
import type { PlaybackMetrics, Status, Variant, WebConfig } from './types';

const DEFAULT_TIMEOUT_MS = 8000;

export async function request(path: string, init: RequestInit = {}, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Response> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return await fetch(path, { cache: 'no-store', credentials: 'same-origin', ...init, signal: controller.signal });
  } finally {
    clearTimeout(timer);
  }
}

async function getJSON<T>(path: string): Promise<T> {
  const response = await request(path, { headers: { Accept: 'application/json' } });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

export function fetchConfig(): Promise<WebConfig> {
  return getJSON<WebConfig>('/api/config');
}

export function fetchStatus(): Promise<Status> {
  return getJSON<Status>('/api/status');
}

export async function fetchVariants(): Promise<Variant[]> {
  const body = await getJSON<unknown>('/api/video/variants');
  return Array.isArray(body) ? (body as Variant[]) : [];
}

/** Marks this viewer active; Owncast drops viewers silent for 15 s. */
export async function ping(): Promise<void> {
  await request('/api/ping');
}

export async function sendPlaybackMetrics(metrics: PlaybackMetrics): Promise<void> {
  await request('/api/metrics/playback', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(metrics),
    keepalive: true,
  });
}

/** POST /api/remotefollow {account} -> {redirectUrl}: the viewer's own server takes over from there. */
export async function remoteFollow(account: string): Promise<string> {
  const response = await request('/api/remotefollow', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ account }),
  });
  const body = (await response.json().catch(() => ({}))) as { redirectUrl?: string; message?: string };
  if (!response.ok || !body.redirectUrl) throw new Error(body.message || 'That account could not be found.');
  return body.redirectUrl;
}
