import { beforeEach, describe, expect, it } from 'vitest';
import {
  backoffDelay,
  chatPayloadBytes,
  colorIndex,
  DEFAULT_MAX_PAYLOAD,
  isModerator,
  loadIdentity,
  maxPayload,
  OWNCAST_TOKEN_KEY,
  saveIdentity,
  socketUrl,
  splitFrame,
  STORAGE_KEY,
} from './chat-protocol';

describe('splitFrame', () => {
  it('reads one event', () => {
    expect(splitFrame('{"type":"CHAT","id":"a","body":"<p>hi</p>"}')).toEqual([{ type: 'CHAT', id: 'a', body: '<p>hi</p>' }]);
  });

  it('splits several newline-separated events in order', () => {
    const frame = ['{"type":"USER_JOINED","id":"1"}', '{"type":"CHAT","id":"2"}', '{"type":"CHAT","id":"3"}'].join('\n');
    expect(splitFrame(frame).map((e) => e.id)).toEqual(['1', '2', '3']);
  });

  it('tolerates CRLF, blank lines and a trailing newline', () => {
    expect(splitFrame('\n{"type":"A"}\r\n\r\n{"type":"B"}\n').map((e) => e.type)).toEqual(['A', 'B']);
  });

  it('skips a bad line without losing the others', () => {
    const frame = '{"type":"A"}\n{not json\n[1,2]\n"text"\n{"no":"type"}\n{"type":5}\nnull\n{"type":"B"}';
    expect(splitFrame(frame).map((e) => e.type)).toEqual(['A', 'B']);
  });

  it('ignores binary and empty frames', () => {
    expect(splitFrame(new ArrayBuffer(4))).toEqual([]);
    expect(splitFrame('')).toEqual([]);
  });

  it('keeps newlines that are inside JSON strings (escaped)', () => {
    expect(splitFrame(JSON.stringify({ type: 'CHAT', body: 'a\nb' }))[0].body).toBe('a\nb');
  });
});

describe('colours and scopes', () => {
  it.each([
    [0, 0],
    [7, 7],
    [8, 0],
    [11, 3],
    [-1, 7],
    [2.9, 2],
    [Number.NaN, 0],
    ['3', 0],
    [undefined, 0],
  ])('colorIndex(%s) = %s', (value, expected) => {
    expect(colorIndex(value)).toBe(expected);
  });

  it('recognises moderators by the MODERATOR scope', () => {
    expect(isModerator({ scopes: ['MODERATOR'] })).toBe(true);
    expect(isModerator({ scopes: ['CAN_SEND_MESSAGES'] })).toBe(false);
    expect(isModerator({ scopes: null })).toBe(false);
    expect(isModerator(null)).toBe(false);
  });
});

describe('payload size', () => {
  it('counts the UTF-8 bytes of the frame that would be sent', () => {
    expect(chatPayloadBytes('hi')).toBe('{"type":"CHAT","body":"hi"}'.length);
    expect(chatPayloadBytes('é')).toBe('{"type":"CHAT","body":""}'.length + 2);
    expect(chatPayloadBytes('"')).toBe('{"type":"CHAT","body":"\\""}'.length);
  });

  it('uses /api/config maxSocketPayloadSize, else Owncast default', () => {
    expect(maxPayload(4096)).toBe(4096);
    expect(maxPayload(undefined)).toBe(DEFAULT_MAX_PAYLOAD);
    expect(maxPayload(0)).toBe(DEFAULT_MAX_PAYLOAD);
    expect(maxPayload('big')).toBe(DEFAULT_MAX_PAYLOAD);
  });
});

describe('socketUrl', () => {
  const http = { protocol: 'http:', host: 'stream.example:8080' };
  const https = { protocol: 'https:', host: 'stream.example' };

  it('follows the page', () => {
    expect(socketUrl(http, 'tok')).toBe('ws://stream.example:8080/ws?accessToken=tok');
    expect(socketUrl(https, 'tok')).toBe('wss://stream.example/ws?accessToken=tok');
  });

  it('encodes the token', () => {
    expect(socketUrl(https, 'a+b/c=&d')).toBe('wss://stream.example/ws?accessToken=a%2Bb%2Fc%3D%26d');
  });

  it('honours socketHostOverride as a host or a URL', () => {
    expect(socketUrl(https, 't', 'chat.example')).toBe('wss://chat.example/ws?accessToken=t');
    expect(socketUrl(https, 't', 'http://chat.example:81/')).toBe('ws://chat.example:81/ws?accessToken=t');
    expect(socketUrl(http, 't', 'wss://chat.example')).toBe('wss://chat.example/ws?accessToken=t');
    expect(socketUrl(http, 't', '  ')).toBe('ws://stream.example:8080/ws?accessToken=t');
  });
});

describe('backoffDelay', () => {
  it('doubles from 1 s with 50-100 % jitter and stops at 30 s', () => {
    expect(backoffDelay(0, () => 1)).toBe(1000);
    expect(backoffDelay(0, () => 0)).toBe(500);
    expect(backoffDelay(1, () => 1)).toBe(2000);
    expect(backoffDelay(4, () => 1)).toBe(16_000);
    expect(backoffDelay(5, () => 1)).toBe(30_000);
    expect(backoffDelay(500, () => 1)).toBe(30_000);
    expect(backoffDelay(500, () => 0)).toBe(15_000);
  });

  it('never goes below half a second', () => {
    for (let i = 0; i < 20; i++) expect(backoffDelay(i)).toBeGreaterThanOrEqual(500);
  });
});

describe('stored identity', () => {
  beforeEach(() => localStorage.clear());

  it('round-trips and mirrors the token under Owncast key', () => {
    saveIdentity({ id: 'u1', accessToken: 't1', displayName: 'Ann' });
    expect(loadIdentity()).toEqual({ id: 'u1', accessToken: 't1', displayName: 'Ann' });
    expect(localStorage.getItem(OWNCAST_TOKEN_KEY)).toBe('t1');
  });

  it('picks up a token left by Owncast own web client', () => {
    localStorage.setItem(OWNCAST_TOKEN_KEY, 'legacy');
    expect(loadIdentity()).toEqual({ id: '', accessToken: 'legacy', displayName: '' });
  });

  it('survives garbage and clears', () => {
    localStorage.setItem(STORAGE_KEY, '{nope');
    expect(loadIdentity()).toBeNull();
    saveIdentity({ id: 'u1', accessToken: 't1', displayName: 'Ann' });
    saveIdentity(null);
    expect(loadIdentity()).toBeNull();
  });
});
