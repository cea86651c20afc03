/** Entry point of `/embed/video`: the player alone, filling the frame. */
import './styles.css';
import { fetchConfig, fetchVariants } from './api';
import { applyAppearanceVariables, applyCustomStyles } from './appearance';
import { h } from './dom';
import { Player } from './player';
import { startSession } from './session';
import type { WebConfig } from './types';

async function main(): Promise<void> {
  let config: WebConfig | null = null;
  let clockOffset = 0;
  const player = new Player({
    clockOffsetMs: () => clockOffset,
  });
  document.body.classList.add('embed', 'embed-video');
  document.body.replaceChildren(h('main', { class: 'embed-main', 'aria-label': 'Live stream' }, player.root));

  await Promise.all([
    fetchConfig().then(
      (c) => {
        config = c;
        applyAppearanceVariables(document.documentElement, c.appearanceVariables);
        if (c.name && !document.title) document.title = c.name;
        applyCustomStyles(document, c.customStyles);
      },
      () => {},
    ),
    fetchVariants().then((v) => player.setVariants(v), () => {}),
  ]);

  const { watcher } = startSession({
    player,
    offlineMessage: () => config?.offlineMessage,
    onStatus: () => {
      clockOffset = watcher.clockOffset;
    },
    onStateChange: (state, _status, first) => {
      if (state === 'live' && !first) void fetchVariants().then((v) => player.setVariants(v), () => {});
    },
  });
}

void main();
