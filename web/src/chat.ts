/**
 * The chat panel. This is the placeholder: the chat work replaces this module's body and keeps its
 * exports (`mountChat`, `ChatOptions`, `ChatHandle`), so the viewer page and the chat embed need no
 * change. The host element is an empty landmark (<aside> on the viewer, <main> in the embed); the panel
 * owns everything inside it, starting with the "Chat" heading whose id labels the landmark.
 *
 * What the real panel will need, all already in `options.config` (GET /api/config): `chatDisabled`,
 * `maxSocketPayloadSize`, `socketHostOverride`, `name` (the server's display name for SYSTEM messages).
 * It registers with POST /api/chat/register, connects to `/ws?accessToken=`, reads history from
 * GET /api/chat?accessToken=, and splits server frames on "\n".
 */
import { h } from './dom';
import type { ChatMode } from './embed';
import type { StreamState, WebConfig } from './types';

export type { ChatMode } from './embed';

export interface ChatOptions {
  mode: ChatMode;
  config: WebConfig | null;
  /** True inside /embed/chat/*: no page around the panel. */
  embedded: boolean;
  /** The id the panel must give its heading (the host's aria-labelledby points at it). */
  headingId: string;
}

export interface ChatHandle {
  /** New config (e.g. chat was disabled by the operator). */
  updateConfig(config: WebConfig): void;
  /** The stream went live or offline. */
  setStreamState(state: StreamState): void;
  destroy(): void;
}

export function mountChat(host: HTMLElement, options: ChatOptions): ChatHandle {
  const heading = h('h2', { id: options.headingId, class: 'panel-heading' }, 'Chat');
  const message = h('p', { class: 'chat-placeholder' });
  host.replaceChildren(heading, message);
  host.classList.add('chat-panel');

  const render = (config: WebConfig | null) => {
    message.textContent = config?.chatDisabled
      ? 'Chat is disabled for this stream.'
      : 'Chat is coming soon.';
  };
  render(options.config);

  return {
    updateConfig: render,
    setStreamState: () => {},
    destroy: () => host.replaceChildren(),
  };
}
