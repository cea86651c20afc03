/** The quality menu: options from GET /api/video/variants and their mapping onto hls.js levels. */
import type { Variant } from './types';

export const AUTO = -1;

export interface QualityOption {
  /** The variant index from the API, or AUTO (-1). */
  value: number;
  label: string;
}

/** "Auto" first, then one option per valid variant in the server's order (duplicates dropped). */
export function buildVariantOptions(variants: unknown): QualityOption[] {
  const options: QualityOption[] = [{ value: AUTO, label: 'Auto' }];
  if (!Array.isArray(variants)) return options;
  const seen = new Set<number>();
  for (const item of variants) {
    if (!item || typeof item !== 'object') continue;
    const { index, name } = item as Partial<Variant>;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || seen.has(index)) continue;
    seen.add(index);
    const label = typeof name === 'string' && name.trim() !== '' ? name.trim() : `Quality ${index + 1}`;
    options.push({ value: index, label });
  }
  return options;
}

/** Whether a menu is worth showing: there must be a choice to make. */
export function hasQualityChoice(options: QualityOption[]): boolean {
  return options.filter((o) => o.value !== AUTO).length > 1;
}

/** What hls.js tells us about a level: `uri`/`url` are its playlist address(es). */
export interface LevelLike {
  uri?: string;
  url?: string | string[];
}

function levelUris(level: LevelLike): string[] {
  const urls = Array.isArray(level.url) ? level.url : level.url ? [level.url] : [];
  return level.uri ? [level.uri, ...urls] : urls;
}

/** The variant index in a media playlist path such as `/hls/2/stream.m3u8` (Owncast's layout). */
export function variantIndexFromUri(uri: string): number | null {
  const path = uri.split(/[?#]/, 1)[0];
  const match = /(?:^|\/)(\d+)\/[^/]+\.m3u8$/.exec(path);
  return match ? Number(match[1]) : null;
}

/**
 * The hls.js level index for an API variant index. hls.js sorts levels by resolution and bitrate, so
 * its order need not match the API's; the playlist path (`<index>/stream.m3u8`) links the two. When
 * no level path carries an index we fall back to the same position. AUTO maps to AUTO; -2 = not found.
 */
export function levelForVariant(levels: readonly LevelLike[], variantIndex: number): number {
  if (variantIndex === AUTO) return AUTO;
  let anyIndexed = false;
  for (let i = 0; i < levels.length; i++) {
    for (const uri of levelUris(levels[i])) {
      const found = variantIndexFromUri(uri);
      if (found === null) continue;
      anyIndexed = true;
      if (found === variantIndex) return i;
    }
  }
  if (!anyIndexed && variantIndex < levels.length) return variantIndex;
  return -2;
}
