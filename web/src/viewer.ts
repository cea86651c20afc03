/** Entry point of the viewer page (`/`): page chrome, player, chat panel, follow slot. */
import './styles.css';
import { fetchConfig, fetchVariants } from './api';
import { mountChat } from './chat';
import { applyConfig, applyStatus, CHAT_HEADING_ID, createViewerLayout } from './page';
import { Player } from './player';
import { startSession } from './session';
import type { WebConfig } from './types';

async function main(): Promise<void> {
  const layout = createViewerLayout(document.body);
  let config: WebConfig | null = null;
  let clockOffset = 0;

  const player = new Player({
    clockOffsetMs: () => clockOffset,
  });
  layout.playerSlot.append(player.root);
  const chat = mountChat(layout.chatRegion, {
    mode: 'readwrite',
    config: null,
    embedded: false,
    headingId: CHAT_HEADING_ID,
  });

  const loadConfig = async () => {
    try {
      config = await fetchConfig();
    } catch {
      return; // keep what we have; the page still plays
    }
    applyConfig(document, layout, config);
    chat.updateConfig(config);
  };
  const loadVariants = () => fetchVariants().then((v) => player.setVariants(v), () => {});

  await Promise.all([loadConfig(), loadVariants()]);

  const { watcher } = startSession({
    player,
    offlineMessage: () => config?.offlineMessage,
    onStatus: (status, state) => {
      clockOffset = watcher.clockOffset;
      applyStatus(document, layout, config, status, state);
    },
    onStateChange: (state, status, first) => {
      applyStatus(document, layout, config, status, state);
      chat.setStreamState(state);
      if (!first) {
        // Title, offline message or renditions may have changed with the new broadcast.
        void loadConfig().then(() => config && applyStatus(document, layout, config, status, state));
        if (state === 'live') void loadVariants();
      }
    },
  });
}

void main();
