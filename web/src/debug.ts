/** The end-to-end test hook: `window.owncastd = {state, hls?}`, kept current as the page changes. */
import type Hls from 'hls.js/light';
import type { StreamState } from './types';

export interface DebugHook {
  state: StreamState;
  hls?: Hls;
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
  window.owncastd = hook;
  return hook;
}
