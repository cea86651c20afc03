/** Entry point of `/embed/chat/readonly` and `/embed/chat/readwrite`: the chat panel alone. */
import './styles.css';
import { fetchConfig, fetchStatus } from './api';
import { applyAppearanceVariables, applyCustomStyles } from './appearance';
import { mountChat } from './chat';
import { h } from './dom';
import { chatModeFromPath } from './embed';
import { StatusWatcher } from './stream-state';

const HEADING_ID = 'chat-heading';

async function main(): Promise<void> {
  const mode = chatModeFromPath(window.location.pathname);
  const host = h('main', { class: 'embed-main chat-area', 'aria-labelledby': HEADING_ID, 'data-mode': mode });
  document.body.classList.add('embed', 'embed-chat');
  document.body.replaceChildren(host);
  const chat = mountChat(host, { mode, config: null, embedded: true, headingId: HEADING_ID });

  try {
    const config = await fetchConfig();
    applyAppearanceVariables(document.documentElement, config.appearanceVariables);
    if (config.name && !document.title) document.title = `Chat · ${config.name}`;
    chat.updateConfig(config);
    applyCustomStyles(document, config.customStyles);
  } catch {
    /* the panel shows its own state */
  }

  // The chat panel may change with the stream (join messages, welcome message); tell it.
  new StatusWatcher({
    fetchStatus,
    intervalMs: 15_000,
    onStateChange: (state) => chat.setStreamState(state),
  }).start();
}

void main();
