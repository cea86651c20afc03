/** The chat's HTTP calls, in Owncast's shapes (routes and payloads as Owncast's web client sends them). */
import { request } from './api';
import type { ChatEvent } from './chat-protocol';

/** A non-2xx answer; `status` 0 means the request never got one (network, timeout). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Registration {
  id: string;
  accessToken: string;
  displayName: string;
  displayColor?: number;
}

const JSON_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json' };

async function send(path: string, init: RequestInit): Promise<Response> {
  let response: Response;
  try {
    response = await request(path, init);
  } catch (err) {
    throw new HttpError(0, `${path}: ${String(err)}`);
  }
  if (!response.ok) throw new HttpError(response.status, `${path}: HTTP ${response.status}`);
  return response;
}

function withToken(path: string, token: string): string {
  return `${path}?accessToken=${encodeURIComponent(token)}`;
}

/** POST /api/chat/register {displayName?} -> {id, accessToken, displayName}. No name: the server picks. */
export async function registerChatUser(displayName?: string): Promise<Registration> {
  const name = displayName?.trim();
  const response = await send('/api/chat/register', {
    method: 'POST',
    headers: JSON_HEADERS,
    body: JSON.stringify(name ? { displayName: name } : {}),
  });
  const body = (await response.json().catch(() => null)) as Partial<Registration> | null;
  if (!body || typeof body.accessToken !== 'string' || !body.accessToken) {
    throw new HttpError(response.status, '/api/chat/register: no accessToken in the answer');
  }
  return {
    id: body.id == null ? '' : String(body.id),
    accessToken: body.accessToken,
    displayName: typeof body.displayName === 'string' ? body.displayName : '',
    displayColor: typeof body.displayColor === 'number' ? body.displayColor : undefined,
  };
}

/** GET /api/chat?accessToken= -> recent visible messages, oldest first. 401 for banned/unknown users. */
export async function fetchChatHistory(token: string): Promise<ChatEvent[]> {
  const response = await send(withToken('/api/chat', token), { headers: { Accept: 'application/json' } });
  const body: unknown = await response.json().catch(() => []);
  return Array.isArray(body) ? body.filter((e): e is ChatEvent => !!e && typeof e === 'object' && typeof e.type === 'string') : [];
}

/** Moderators: POST /api/chat/messagevisibility?accessToken= {idArray, visible}. */
export async function setMessageVisibility(token: string, ids: string[], visible: boolean): Promise<void> {
  await send(withToken('/api/chat/messagevisibility', token), {
    method: 'POST',
    headers: JSON_HEADERS,
    body: JSON.stringify({ idArray: ids, visible }),
  });
}

/** Moderators: POST /api/chat/users/setenabled?accessToken= {userId, enabled}. */
export async function setUserEnabled(token: string, userId: string, enabled: boolean): Promise<void> {
  await send(withToken('/api/chat/users/setenabled', token), {
    method: 'POST',
    headers: JSON_HEADERS,
    body: JSON.stringify({ userId, enabled }),
  });
}
