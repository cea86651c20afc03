/**
 * The end-to-end test hook: `window.owncastd = {state, hls?, chat?}`, kept current as the page changes.
 * `chat` is the chat panel's: `state` of its connection and `messages`, the chat messages it shows.
 */
import type Hls from 'hls.js/light';
import type { StreamState } from './types';

export type ChatDebugState = 'connecting' | 'open' | 'closed' | 'banned';

export interface ChatDebug {
  state: ChatDebugState;
  /** Visible CHAT messages in the list (hidden ones and notices are not counted). */
  messages: number;
  /** This viewer's chat user, once registered (id as the server gave it). */
  userId?: string;
  displayName?: string;
  moderator?: boolean;
}

export interface DebugHook {
  state: StreamState;
  hls?: Hls;
  chat?: ChatDebug;
}

declare global {
  interface Window {
    owncastd?: DebugHook;
  }
}

export function publishDebug(patch: Partial<DebugHook>): DebugHook {
  const hook: DebugHook = window.owncastd ?? { state: 'offline' };
  if ('state' in patch && patch.state) hook.state = patch.state;
  if ('hls' in patch) {
    if (patch.hls) hook.hls = patch.hls;
    else delete hook.hls;
  }
  if ('chat' in patch) {
    if (patch.chat) hook.chat = { ...hook.chat, ...patch.chat };
    else delete hook.chat;
  }
  window.owncastd = hook;
  return hook;
}
