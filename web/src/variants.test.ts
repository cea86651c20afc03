import { describe, expect, it } from 'vitest';
import { AUTO, buildVariantOptions, hasQualityChoice, levelForVariant, variantIndexFromUri } from './variants';

describe('buildVariantOptions', () => {
  it('puts Auto first, then one entry per variant in server order', () => {
    const options = buildVariantOptions([
      { index: 0, name: '1080p' },
      { index: 1, name: '720p' },
      { index: 2, name: 'Audio only' },
    ]);
    expect(options).toEqual([
      { value: AUTO, label: 'Auto' },
      { value: 0, label: '1080p' },
      { value: 1, label: '720p' },
      { value: 2, label: 'Audio only' },
    ]);
    expect(hasQualityChoice(options)).toBe(true);
  });

  it('names unnamed variants and drops invalid or duplicate ones', () => {
    const options = buildVariantOptions([
      { index: 1, name: '' },
      { index: 1, name: 'dup' },
      { index: -1, name: 'neg' },
      { index: 1.5, name: 'frac' },
      { name: 'no index' },
      null,
      'x',
    ]);
    expect(options).toEqual([
      { value: AUTO, label: 'Auto' },
      { value: 1, label: 'Quality 2' },
    ]);
    expect(hasQualityChoice(options)).toBe(false);
  });

  it('survives a non-array body', () => {
    expect(buildVariantOptions({ error: 'nope' })).toEqual([{ value: AUTO, label: 'Auto' }]);
  });
});

describe('levelForVariant', () => {
  // hls.js sorts levels lowest first; the API lists variants in the operator's order.
  const levels = [
    { uri: 'http://h/hls/2/stream.m3u8' },
    { uri: 'http://h/hls/1/stream.m3u8?x=1' },
    { url: ['http://h/hls/0/stream.m3u8'] },
  ];

  it('maps by the index in the playlist path', () => {
    expect(levelForVariant(levels, 0)).toBe(2);
    expect(levelForVariant(levels, 1)).toBe(1);
    expect(levelForVariant(levels, 2)).toBe(0);
  });

  it('keeps Auto and reports unknown variants', () => {
    expect(levelForVariant(levels, AUTO)).toBe(AUTO);
    expect(levelForVariant(levels, 7)).toBe(-2);
  });

  it('falls back to position when paths carry no index', () => {
    const plain = [{ uri: 'low.m3u8' }, { uri: 'high.m3u8' }];
    expect(levelForVariant(plain, 1)).toBe(1);
    expect(levelForVariant(plain, 5)).toBe(-2);
  });

  it('reads indices from relative and absolute paths', () => {
    expect(variantIndexFromUri('3/stream.m3u8')).toBe(3);
    expect(variantIndexFromUri('/hls/10/stream.m3u8#t')).toBe(10);
    expect(variantIndexFromUri('/hls/stream.m3u8')).toBeNull();
  });
});
