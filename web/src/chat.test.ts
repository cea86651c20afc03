import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BANNED_TEXT, type ChatHandle, DISABLED_TEXT, MESSAGE_LIMIT, mountChat } from './chat';
import type { ChatEvent } from './chat-protocol';
import type { ChatMode } from './embed';
import type { WebConfig } from './types';

// ---- fakes ----------------------------------------------------------------------------------------

type Listener = (event: Record<string, unknown>) => void;

class FakeSocket {
  static instances: FakeSocket[] = [];
  static last(): FakeSocket {
    return FakeSocket.instances[FakeSocket.instances.length - 1];
  }
  readyState = 0;
  sent: Array<Record<string, unknown>> = [];
  private listeners: Record<string, Listener[]> = {};
  constructor(readonly url: string) {
    FakeSocket.instances.push(this);
  }
  addEventListener(type: string, fn: Listener) {
    (this.listeners[type] ??= []).push(fn);
  }
  private emit(type: string, event: Record<string, unknown> = {}) {
    for (const fn of this.listeners[type] ?? []) fn(event);
  }
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    if (this.readyState === 3) return;
    this.readyState = 3;
    queueMicrotask(() => this.emit('close', { code: 1000 }));
  }
  // Test side: what the server does.
  open() {
    this.readyState = 1;
    this.emit('open');
  }
  receive(...events: Array<Partial<ChatEvent> & { type: string }>) {
    this.emit('message', { data: events.map((e) => JSON.stringify(e)).join('\n') });
  }
  receiveRaw(data: string) {
    this.emit('message', { data });
  }
  drop() {
    this.readyState = 3;
    this.emit('close', { code: 1006 });
  }
}

interface Call {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
}

type Route = (call: Call) => { status: number; body?: unknown };
let routes: Record<string, Route>;
let calls: Call[];

function fakeResponse(status: number, body: unknown): Response {
  return { ok: status >= 200 && status < 300, status, json: async () => body } as unknown as Response;
}

const fetchMock = vi.fn(async (input: string, init: RequestInit = {}) => {
  const url = new URL(input, window.location.href);
  const call: Call = {
    method: init.method ?? 'GET',
    path: url.pathname,
    query: url.searchParams,
    body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
  };
  calls.push(call);
  const route = routes[`${call.method} ${call.path}`];
  if (!route) return fakeResponse(404, null);
  const { status, body } = route(call);
  return fakeResponse(status, body);
});

function callsTo(method: string, path: string): Call[] {
  return calls.filter((c) => c.method === method && c.path === path);
}

async function flush(ms = 0): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

const CONFIG: WebConfig = { name: 'Test server', maxSocketPayloadSize: 2048 };
const ME = { id: 'me1', displayName: 'Ann', displayColor: 2, scopes: [] as string[] };
const BOB = { id: 'u2', displayName: 'Bob', displayColor: 5 };
let history: ChatEvent[];
let handle: ChatHandle | null;
let host: HTMLElement;

function chatMsg(id: string, body: string, user: Record<string, unknown> = BOB, at = 1): ChatEvent {
  return { type: 'CHAT', id, body, user, timestamp: new Date(Date.UTC(2026, 0, 1, 12, 0, at)).toISOString() };
}

async function mount(mode: ChatMode = 'readwrite', config: WebConfig | null = CONFIG): Promise<FakeSocket | undefined> {
  host = document.createElement('aside');
  document.body.append(host);
  handle = mountChat(host, { mode, config, embedded: false, headingId: 'chat-heading' });
  await flush();
  return FakeSocket.last();
}

/** Mounts, opens the socket and says hello as the server does. */
async function connected(mode: ChatMode = 'readwrite', me: Record<string, unknown> = ME): Promise<FakeSocket> {
  const socket = (await mount(mode))!;
  socket.open();
  socket.receive({ type: 'CONNECTED_USER_INFO', user: me });
  await flush();
  return socket;
}

function $(selector: string): HTMLElement | null {
  return host.querySelector(selector);
}

function texts(): string[] {
  return Array.from(host.querySelectorAll('.chat-log > .chat-msg:not([hidden])')).map((el) => (el.textContent ?? '').trim());
}

function typeAndEnter(text: string, init: KeyboardEventInit = {}): KeyboardEvent {
  const textarea = $('textarea') as HTMLTextAreaElement;
  textarea.value = text;
  textarea.dispatchEvent(new Event('input'));
  const event = new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true, ...init });
  textarea.dispatchEvent(event);
  return event;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  vi.setSystemTime(new Date(Date.UTC(2026, 0, 1, 12, 0, 0)));
  FakeSocket.instances = [];
  calls = [];
  history = [];
  handle = null;
  localStorage.clear();
  delete window.owncastd;
  routes = {
    'POST /api/chat/register': () => ({ status: 200, body: { id: 'me1', accessToken: 'tok1', displayName: 'Ann' } }),
    'GET /api/chat': () => ({ status: 200, body: history }),
    'POST /api/chat/messagevisibility': () => ({ status: 200, body: { success: true } }),
    'POST /api/chat/users/setenabled': () => ({ status: 200, body: { success: true } }),
  };
  vi.stubGlobal('WebSocket', FakeSocket);
  vi.stubGlobal('fetch', fetchMock);
  fetchMock.mockClear();
});

afterEach(() => {
  handle?.destroy();
  host?.remove();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

// ---- registration and connection ------------------------------------------------------------------

describe('registration', () => {
  it('registers on first visit, stores the identity, and connects with the token', async () => {
    const socket = await mount();
    const register = callsTo('POST', '/api/chat/register');
    expect(register).toHaveLength(1);
    expect(register[0].body).toEqual({});
    expect(JSON.parse(localStorage.getItem('owncastd.chat')!)).toEqual({ id: 'me1', accessToken: 'tok1', displayName: 'Ann' });
    expect(localStorage.getItem('accessToken')).toBe('tok1');
    expect(socket!.url).toBe(`ws://${window.location.host}/ws?accessToken=tok1`);
    expect(window.owncastd?.chat?.state).toBe('connecting');
  });

  it('reuses the stored token on later visits', async () => {
    localStorage.setItem('owncastd.chat', JSON.stringify({ id: 'me1', accessToken: 'stored', displayName: 'Ann' }));
    const socket = await mount();
    expect(callsTo('POST', '/api/chat/register')).toHaveLength(0);
    expect(socket!.url).toContain('accessToken=stored');
  });

  it('waits for /api/config before connecting, and uses socketHostOverride', async () => {
    await mount('readwrite', null);
    expect(FakeSocket.instances).toHaveLength(0);
    handle!.updateConfig({ ...CONFIG, socketHostOverride: 'https://chat.example' });
    await flush();
    expect(FakeSocket.last().url).toBe('wss://chat.example/ws?accessToken=tok1');
  });

  it('starts with defaults when /api/config never arrives', async () => {
    await mount('readwrite', null);
    await flush(10_000);
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('fetches history on open, then shows live messages, without duplicates', async () => {
    history = [chatMsg('h1', '<p>first</p>', BOB, 1), chatMsg('h2', '<p>second</p>', BOB, 2)];
    const socket = (await mount())!;
    socket.open();
    socket.receive(chatMsg('h2', '<p>second</p>', BOB, 2), chatMsg('l3', '<p>third</p>', BOB, 3));
    await flush();
    const get = callsTo('GET', '/api/chat');
    expect(get).toHaveLength(1);
    expect(get[0].query.get('accessToken')).toBe('tok1');
    expect(texts()).toEqual(['Bobfirst', 'Bobsecond', 'Bobthird']);
    expect(window.owncastd?.chat).toMatchObject({ state: 'open', messages: 3 });
  });

  it('reads several events from one frame', async () => {
    const socket = await connected();
    socket.receiveRaw(
      [JSON.stringify(chatMsg('a', '<p>one</p>')), '', 'garbage', JSON.stringify(chatMsg('b', '<p>two</p>'))].join('\n'),
    );
    expect(texts()).toEqual(['Bobone', 'Bobtwo']);
  });

  it('re-registers (keeping the name) when the server does not know the token', async () => {
    localStorage.setItem('owncastd.chat', JSON.stringify({ id: 'old', accessToken: 'stale', displayName: 'Ann' }));
    routes['POST /api/chat/register'] = () => ({ status: 200, body: { id: 'me9', accessToken: 'fresh', displayName: 'Ann' } });
    const first = (await mount())!;
    first.open();
    first.receive({ type: 'ERROR_NEEDS_REGISTRATION' });
    await flush();
    expect(callsTo('POST', '/api/chat/register')[0].body).toEqual({ displayName: 'Ann' });
    expect(FakeSocket.last()).not.toBe(first);
    expect(FakeSocket.last().url).toContain('accessToken=fresh');
    expect(JSON.parse(localStorage.getItem('owncastd.chat')!).accessToken).toBe('fresh');
  });
});

describe('reconnecting', () => {
  it('reconnects with growing delays and re-fetches history each time', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1);
    const socket = await connected();
    expect(callsTo('GET', '/api/chat')).toHaveLength(1);
    socket.drop();
    await flush();
    expect(window.owncastd?.chat?.state).toBe('closed');
    expect($('.chat-status')!.textContent).toMatch(/retrying in 1 s/);
    await flush(999);
    expect(FakeSocket.instances).toHaveLength(1);
    await flush(1);
    expect(FakeSocket.instances).toHaveLength(2);

    // Refused again without opening; /api/chat still answers 200, so not a ban: back off 2 s.
    FakeSocket.last().drop();
    await flush();
    expect(window.owncastd?.chat?.state).toBe('closed');
    await flush(1999);
    expect(FakeSocket.instances).toHaveLength(2);
    await flush(1);
    expect(FakeSocket.instances).toHaveLength(3);

    history = [chatMsg('x', '<p>missed while away</p>')];
    FakeSocket.last().open();
    await flush();
    expect(callsTo('GET', '/api/chat').length).toBeGreaterThanOrEqual(2);
    expect(texts()).toContain('Bobmissed while away');
    expect(window.owncastd?.chat?.state).toBe('open');
  });

  it('resets the backoff after a good connection', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1);
    const socket = await connected();
    socket.drop();
    await flush(1000);
    FakeSocket.last().drop(); // 2 s next
    await flush(2000);
    FakeSocket.last().open();
    FakeSocket.last().receive({ type: 'CONNECTED_USER_INFO', user: ME });
    FakeSocket.last().drop();
    await flush();
    expect($('.chat-status')!.textContent).toMatch(/retrying in 1 s/);
  });

  it('reconnects at once when the stream goes live', async () => {
    const socket = await connected();
    socket.drop();
    await flush();
    const before = FakeSocket.instances.length;
    handle!.setStreamState('live');
    await flush();
    expect(FakeSocket.instances.length).toBe(before + 1);
  });
});

describe('banned and disabled', () => {
  it('ERROR_USER_DISABLED: banned, input gone, no reconnect', async () => {
    const socket = await connected();
    socket.receive({ type: 'ERROR_USER_DISABLED' });
    await flush(60_000);
    expect(window.owncastd?.chat?.state).toBe('banned');
    expect($('.chat-banner')!.hidden).toBe(false);
    expect($('.chat-banner')!.textContent).toBe(BANNED_TEXT);
    expect($('.chat-banner')!.getAttribute('role')).toBe('alert');
    expect(($('.chat-compose') as HTMLElement).hidden).toBe(true);
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('CHAT_DISABLED (the operator turned chat off): disabled, not banned; back when /api/config says so', async () => {
    let chatDisabled = true;
    routes['GET /api/config'] = () => ({ status: 200, body: { ...CONFIG, chatDisabled } });
    const socket = await connected();
    socket.receive({ type: 'CHAT_DISABLED', id: 'd', timestamp: '2026-01-01T12:00:00Z' });
    socket.drop(); // the server closes every socket
    await flush();
    expect(window.owncastd?.chat?.state).toBe('closed');
    expect($('.chat-banner')!.textContent).toBe(DISABLED_TEXT);
    expect(($('.chat-compose') as HTMLElement).hidden).toBe(true);
    await flush(60_000);
    expect(callsTo('GET', '/api/config')).toHaveLength(1);
    expect(FakeSocket.instances).toHaveLength(1);
    chatDisabled = false;
    await flush(60_000);
    expect(FakeSocket.instances).toHaveLength(2);
    expect($('.chat-banner')!.hidden).toBe(true);
    await flush(120_000);
    expect(callsTo('GET', '/api/config')).toHaveLength(2);
  });

  it('socket refused and /api/chat 401: banned', async () => {
    routes['GET /api/chat'] = () => ({ status: 401 });
    const socket = (await mount())!;
    socket.drop();
    await flush(60_000);
    expect(window.owncastd?.chat?.state).toBe('banned');
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('socket refused and /api/chat 403: banned', async () => {
    routes['GET /api/chat'] = () => ({ status: 403 });
    (await mount())!.drop();
    await flush();
    expect(window.owncastd?.chat?.state).toBe('banned');
  });

  it('registration refused with 403: banned', async () => {
    routes['POST /api/chat/register'] = () => ({ status: 403 });
    await mount();
    expect(window.owncastd?.chat?.state).toBe('banned');
    expect(FakeSocket.instances).toHaveLength(0);
  });

  it('registration failing otherwise: retried', async () => {
    let fail = true;
    const ok = routes['POST /api/chat/register'];
    routes['POST /api/chat/register'] = (c) => (fail ? { status: 500 } : ok(c));
    await mount();
    expect(window.owncastd?.chat?.state).toBe('closed');
    fail = false;
    await flush(30_000);
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('chat disabled by the operator: no connection, a clear notice, and it comes back when enabled', async () => {
    await mount('readwrite', { ...CONFIG, chatDisabled: true });
    expect(FakeSocket.instances).toHaveLength(0);
    expect($('.chat-banner')!.textContent).toBe(DISABLED_TEXT);
    expect(($('.chat-compose') as HTMLElement).hidden).toBe(true);
    expect(window.owncastd?.chat?.state).toBe('closed');
    handle!.updateConfig(CONFIG);
    await flush();
    expect(FakeSocket.instances).toHaveLength(1);
    expect($('.chat-banner')!.hidden).toBe(true);
    handle!.updateConfig({ ...CONFIG, chatDisabled: true });
    await flush();
    expect(FakeSocket.instances[0].readyState).toBe(3);
  });
});

// ---- events ---------------------------------------------------------------------------------------

describe('events', () => {
  it('CHAT: author as text, body sanitised, colour from displayColor, badges', async () => {
    const socket = await connected();
    socket.receive(
      chatMsg('a', '<p>hi <img src=x onerror="window.pwned=1"><script>window.pwned=2</script></p>', {
        id: 'evil',
        displayName: '<img src=x onerror="window.pwned=3">',
        displayColor: 11,
        scopes: ['MODERATOR'],
        isBot: true,
      }),
    );
    await flush();
    const el = $('.chat-user')!;
    expect(el.querySelector('.chat-author')!.textContent).toBe('<img src=x onerror="window.pwned=3">');
    expect(el.querySelectorAll('img, script')).toHaveLength(0);
    expect(el.querySelector('.chat-body')!.innerHTML).toBe('<p>hi </p>');
    expect(el.dataset.color).toBe('3');
    expect(Array.from(el.querySelectorAll('.chat-badge')).map((b) => b.textContent)).toEqual(['Mod', 'Bot']);
    expect((window as unknown as { pwned?: number }).pwned).toBeUndefined();
  });

  it('CHAT with hiddenAt is not shown', async () => {
    const socket = await connected();
    socket.receive({ ...chatMsg('a', '<p>x</p>'), hiddenAt: '2026-01-01T00:00:00Z' });
    expect(texts()).toEqual([]);
  });

  it('USER_JOINED and USER_PARTED', async () => {
    const socket = await connected();
    socket.receive({ type: 'USER_JOINED', id: 'j', user: BOB }, { type: 'USER_PARTED', id: 'p', user: BOB });
    expect(texts()).toEqual(['Bob joined the chat', 'Bob left the chat']);
    expect(window.owncastd?.chat?.messages).toBe(0);
  });

  it('NAME_CHANGE: a notice, and our own name follows', async () => {
    const socket = await connected();
    socket.receive({ type: 'NAME_CHANGE', id: 'n1', oldName: 'Bobby', user: BOB });
    socket.receive({ type: 'NAME_CHANGE', id: 'n2', oldName: 'Ann', user: { ...ME, displayName: 'Annie' } });
    expect(texts()).toEqual(['Bobby is now known as Bob', 'Ann is now known as Annie']);
    expect($('.chat-me-name')!.textContent).toBe('Annie');
    expect(window.owncastd?.chat?.displayName).toBe('Annie');
  });

  it('COLOR_CHANGE recolours that user messages', async () => {
    const socket = await connected();
    socket.receive(chatMsg('a', '<p>x</p>'), chatMsg('b', '<p>y</p>', { id: 'u3', displayName: 'Cy', displayColor: 1 }));
    socket.receive({ type: 'COLOR_CHANGE', user: { ...BOB, displayColor: 7 } });
    expect(($('[data-id="a"]') as HTMLElement).dataset.color).toBe('7');
    expect(($('[data-id="b"]') as HTMLElement).dataset.color).toBe('1');
    socket.receive({ type: 'COLOR_CHANGE', user: { id: 'u3' }, newColor: 4 });
    expect(($('[data-id="b"]') as HTMLElement).dataset.color).toBe('4');
  });

  it('SYSTEM and CHAT_ACTION are styled apart, with sanitised bodies', async () => {
    const socket = await connected();
    socket.receive(
      { type: 'SYSTEM', id: 's', body: '<p>Welcome! <a href="javascript:alert(1)">x</a></p>', user: { displayName: 'Test server' } },
      { type: 'CHAT_ACTION', id: 'c', body: '<p>You are sending messages too fast.</p>' },
    );
    expect($('.chat-system')!.textContent).toBe('Test serverWelcome! x');
    expect($('.chat-system a')).toBeNull();
    expect($('.chat-action')!.textContent).toBe('You are sending messages too fast.');
  });

  it('VISIBILITY-UPDATE hides and shows messages; unknown ids shown again come from history', async () => {
    const socket = await connected();
    socket.receive(chatMsg('a', '<p>x</p>'), chatMsg('b', '<p>y</p>'));
    socket.receive({ type: 'VISIBILITY-UPDATE', id: 'v', ids: ['a'], visible: false });
    expect(texts()).toEqual(['Boby']);
    expect(window.owncastd?.chat?.messages).toBe(1);
    socket.receive({ type: 'VISIBILITY-UPDATE', id: 'v2', ids: ['a'], visible: true });
    expect(texts()).toEqual(['Bobx', 'Boby']);
    const before = callsTo('GET', '/api/chat').length;
    history = [chatMsg('old', '<p>was hidden</p>', BOB, 0)];
    socket.receive({ type: 'VISIBILITY-UPDATE', id: 'v3', ids: ['old'], visible: true });
    await flush();
    expect(callsTo('GET', '/api/chat').length).toBe(before + 1);
    expect(texts()).toEqual(['Bobwas hidden', 'Bobx', 'Boby']);
  });

  it('STREAM_STARTED and STREAM_STOPPED notices', async () => {
    const socket = await connected();
    socket.receive({ type: 'STREAM_STARTED', id: 's1' }, { type: 'STREAM_STOPPED', id: 's2' }, { type: 'STREAM_TITLE_UPDATED', id: 's3' });
    expect(texts()).toEqual(['The stream started.', 'The stream ended.']);
  });

  it('answers a PING event with PONG and shows nothing', async () => {
    const socket = await connected();
    socket.receive({ type: 'PING' });
    expect(socket.sent).toEqual([{ type: 'PONG' }]);
    expect(texts()).toEqual([]);
  });

  it('ERROR_MAX_CONNECTIONS_EXCEEDED is shown as an error', async () => {
    const socket = await connected();
    socket.receive({ type: 'ERROR_MAX_CONNECTIONS_EXCEEDED' });
    expect($('.chat-error')!.textContent).toMatch(/full/);
  });

  it('fediverse engagement links only to http(s)', async () => {
    const socket = await connected();
    socket.receive(
      { type: 'FEDIVERSE_ENGAGEMENT_FOLLOW', id: 'f1', body: '<p>followed</p>', link: 'https://social.example/@x', title: '@x@social.example' },
      { type: 'FEDIVERSE_ENGAGEMENT_LIKE', id: 'f2', body: '<p>liked</p>', link: 'javascript:alert(1)', title: 'y' },
    );
    const links = host.querySelectorAll('.chat-fediverse-link');
    expect(links).toHaveLength(1);
    expect(links[0].getAttribute('href')).toBe('https://social.example/@x');
    expect(links[0].textContent).toBe('@x@social.example');
  });

  it('keeps at most MESSAGE_LIMIT messages in the page', async () => {
    const socket = await connected();
    for (let i = 0; i < MESSAGE_LIMIT + 20; i++) socket.receive(chatMsg(`m${i}`, `<p>${i}</p>`));
    expect(host.querySelectorAll('.chat-log > .chat-msg')).toHaveLength(MESSAGE_LIMIT);
    expect(window.owncastd?.chat?.messages).toBe(MESSAGE_LIMIT);
    expect(($('.chat-log > .chat-msg') as HTMLElement).dataset.id).toBe('m20');
  });
});

// ---- sending ---------------------------------------------------------------------------------------

describe('sending', () => {
  it('Enter sends {type:"CHAT", body}; Shift+Enter does not', async () => {
    const socket = await connected();
    const shift = typeAndEnter('line one', { shiftKey: true });
    expect(shift.defaultPrevented).toBe(false);
    expect(socket.sent).toEqual([]);
    const enter = typeAndEnter('  hello world  ');
    expect(enter.defaultPrevented).toBe(true);
    expect(socket.sent).toEqual([{ type: 'CHAT', body: 'hello world' }]);
    expect(($('textarea') as HTMLTextAreaElement).value).toBe('');
  });

  it('the input is labelled and the send button is a real button', async () => {
    await connected();
    const textarea = $('textarea') as HTMLTextAreaElement;
    const label = host.querySelector(`label[for="${textarea.id}"]`);
    expect(label?.textContent).toBe('Message');
    expect(($('.chat-send') as HTMLButtonElement).type).toBe('submit');
  });

  it('does not send while connecting, and keeps the text', async () => {
    const socket = (await mount())!;
    expect(($('.chat-send') as HTMLButtonElement).disabled).toBe(true);
    typeAndEnter('early');
    expect(socket.sent).toEqual([]);
    expect(($('textarea') as HTMLTextAreaElement).value).toBe('early');
  });

  it('refuses a message over maxSocketPayloadSize and says so', async () => {
    handle = null;
    host = document.createElement('aside');
    document.body.append(host);
    handle = mountChat(host, { mode: 'readwrite', config: { maxSocketPayloadSize: 100 }, embedded: false, headingId: 'h' });
    await flush();
    const socket = FakeSocket.last();
    socket.open();
    typeAndEnter('x'.repeat(80));
    expect(socket.sent).toEqual([]);
    expect($('.chat-counter')!.textContent).toBe('5 too long'); // 25 bytes of JSON around the body
    expect(($('.chat-send') as HTMLButtonElement).disabled).toBe(true);
    expect(($('textarea') as HTMLTextAreaElement).maxLength).toBe(75);
    typeAndEnter('x'.repeat(75));
    expect(socket.sent).toHaveLength(1);
  });

  it('name and colour changes send NAME_CHANGE and COLOR_CHANGE', async () => {
    const socket = await connected();
    const toggle = $('.chat-me') as HTMLButtonElement;
    expect(toggle.textContent).toContain('Ann');
    toggle.click();
    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    expect(($('.chat-compose') as HTMLElement).hidden).toBe(true);
    const name = $('.chat-name-input') as HTMLInputElement;
    expect(name.value).toBe('Ann');
    expect(name.maxLength).toBe(30);
    const swatches = host.querySelectorAll<HTMLInputElement>('.chat-swatch');
    expect(swatches).toHaveLength(8);
    expect(swatches[2].checked).toBe(true);
    name.value = '  Annabel ';
    swatches[6].checked = true;
    ($('.chat-settings') as HTMLFormElement).requestSubmit();
    expect(socket.sent).toEqual([
      { type: 'NAME_CHANGE', newName: 'Annabel' },
      { type: 'COLOR_CHANGE', newColor: 6 },
    ]);
    expect(($('.chat-settings') as HTMLElement).hidden).toBe(true);
    expect(($('.chat-compose') as HTMLElement).hidden).toBe(false);
    expect(document.activeElement).toBe(toggle);
    expect(toggle.dataset.color).toBe('6');
  });

  it('an empty name is refused', async () => {
    const socket = await connected();
    ($('.chat-me') as HTMLButtonElement).click();
    ($('.chat-name-input') as HTMLInputElement).value = '   ';
    ($('.chat-settings') as HTMLFormElement).requestSubmit();
    expect(socket.sent).toEqual([]);
    expect($('.chat-settings .form-error')!.textContent).toBe('Enter a name.');
  });
});

// ---- moderation -----------------------------------------------------------------------------------

describe('moderation', () => {
  const MOD = { ...ME, scopes: ['MODERATOR'] };

  it('ordinary users get no moderation buttons', async () => {
    const socket = await connected();
    socket.receive(chatMsg('a', '<p>x</p>'));
    expect($('.chat-mod')).toBeNull();
  });

  it('moderators hide a message: POST /api/chat/messagevisibility {idArray, visible:false}', async () => {
    const socket = await connected('readwrite', MOD);
    socket.receive(chatMsg('a', '<p>x</p>'));
    const hide = $('[data-id="a"] .chat-mod-button') as HTMLButtonElement;
    expect(hide.textContent).toBe('Hide');
    expect(hide.getAttribute('aria-label')).toBe('Hide message from Bob');
    hide.click();
    await flush();
    const [call] = callsTo('POST', '/api/chat/messagevisibility');
    expect(call.query.get('accessToken')).toBe('tok1');
    expect(call.body).toEqual({ idArray: ['a'], visible: false });
    expect(texts().filter((t) => t.startsWith('Bob'))).toEqual([]);
    expect(window.owncastd?.chat?.moderator).toBe(true);
  });

  it('moderators ban a user in two steps: POST /api/chat/users/setenabled {userId, enabled:false}', async () => {
    const socket = await connected('readwrite', MOD);
    socket.receive(chatMsg('a', '<p>x</p>'), chatMsg('b', '<p>y</p>'));
    const ban = host.querySelectorAll<HTMLButtonElement>('[data-id="a"] .chat-mod-button')[1];
    expect(ban.getAttribute('aria-label')).toBe('Ban Bob');
    ban.click();
    await flush();
    expect(callsTo('POST', '/api/chat/users/setenabled')).toHaveLength(0);
    expect(ban.textContent).toBe('Confirm ban');
    ban.click();
    await flush();
    const [call] = callsTo('POST', '/api/chat/users/setenabled');
    expect(call.query.get('accessToken')).toBe('tok1');
    expect(call.body).toEqual({ userId: 'u2', enabled: false });
    expect(window.owncastd?.chat?.messages).toBe(0);
  });

  it('an unconfirmed ban times out', async () => {
    const socket = await connected('readwrite', MOD);
    socket.receive(chatMsg('a', '<p>x</p>'));
    const ban = host.querySelectorAll<HTMLButtonElement>('[data-id="a"] .chat-mod-button')[1];
    ban.click();
    await flush(6000);
    expect(ban.textContent).toBe('Ban');
    ban.click();
    await flush();
    expect(callsTo('POST', '/api/chat/users/setenabled')).toHaveLength(0);
  });

  it('no ban button on our own messages', async () => {
    const socket = await connected('readwrite', MOD);
    socket.receive(chatMsg('mine', '<p>x</p>', MOD));
    expect(host.querySelectorAll('[data-id="mine"] .chat-mod-button')).toHaveLength(1);
  });

  it('a refused action is reported', async () => {
    routes['POST /api/chat/messagevisibility'] = () => ({ status: 401 });
    const socket = await connected('readwrite', MOD);
    socket.receive(chatMsg('a', '<p>x</p>'));
    ($('[data-id="a"] .chat-mod-button') as HTMLButtonElement).click();
    await flush();
    expect($('.chat-error')!.textContent).toBe('Could not hide the message (HTTP 401).');
    expect(($('[data-id="a"]') as HTMLElement).hidden).toBe(false);
  });

  it('buttons appear on earlier messages when the user becomes a moderator', async () => {
    const socket = await connected();
    socket.receive(chatMsg('a', '<p>x</p>'));
    expect($('.chat-mod')).toBeNull();
    socket.receive({ type: 'CONNECTED_USER_INFO', user: MOD });
    expect($('[data-id="a"] .chat-mod')).not.toBeNull();
    expect(texts().some((t) => t.startsWith('You are a moderator'))).toBe(true);
  });
});

// ---- read-only embed ------------------------------------------------------------------------------

describe('read-only mode', () => {
  it('registers silently, shows messages, has no input and no moderation', async () => {
    const socket = (await mount('readonly'))!;
    expect(callsTo('POST', '/api/chat/register')).toHaveLength(1);
    socket.open();
    socket.receive({ type: 'CONNECTED_USER_INFO', user: { ...ME, scopes: ['MODERATOR'] } }, chatMsg('a', '<p>x</p>'));
    expect(texts()).toEqual(['Bobx']);
    expect($('textarea')).toBeNull();
    expect($('.chat-mod')).toBeNull();
    expect($('[role="log"]')).not.toBeNull();
  });
});

describe('debug hook', () => {
  it('adds chat to window.owncastd without touching state/hls, and leaves on destroy', async () => {
    window.owncastd = { state: 'live' };
    const socket = await connected();
    socket.receive(chatMsg('a', '<p>x</p>'));
    expect(window.owncastd).toMatchObject({ state: 'live', chat: { state: 'open', messages: 1, userId: 'me1', displayName: 'Ann', moderator: false } });
    handle!.destroy();
    handle = null;
    expect(window.owncastd?.chat).toBeUndefined();
    expect(window.owncastd?.state).toBe('live');
  });
});
