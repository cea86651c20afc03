/** The viewer page's structure (landmarks, headings) and how /api/config and /api/status fill it. */
import { applyAppearanceVariables, applyCustomStyles } from './appearance';
import { h, isSafeUrl, setSafeHtml } from './dom';
import { renderFollow } from './follow';
import { stateAnnouncement, viewerCountText } from './stream-state';
import type { SocialHandle, Status, StreamState, WebConfig } from './types';

export const CHAT_HEADING_ID = 'chat-heading';

export interface ViewerLayout {
  header: HTMLElement;
  logo: HTMLImageElement;
  serverName: HTMLElement;
  followSlot: HTMLElement;
  main: HTMLElement;
  playerSlot: HTMLElement;
  chatRegion: HTMLElement;
  info: HTMLElement;
  liveBadge: HTMLElement;
  statusText: HTMLElement;
  viewerCount: HTMLElement;
  streamTitle: HTMLElement;
  summary: HTMLElement;
  tags: HTMLUListElement;
  social: HTMLUListElement;
  pageContent: HTMLElement;
  footerVersion: HTMLElement;
}

/** Builds the page into `body`: banner, main (player, chat, about), footer. */
export function createViewerLayout(body: HTMLElement): ViewerLayout {
  const logo = h('img', { class: 'logo', src: '/logo', alt: '', width: 48, height: 48 });
  logo.addEventListener('error', () => (logo.hidden = true));
  const serverName = h('h1', { class: 'server-name' });
  const followSlot = h('div', { class: 'follow-slot', hidden: true });
  const header = h(
    'header',
    { class: 'site-header' },
    h('a', { class: 'brand', href: '/' }, logo, serverName),
    followSlot,
  );

  const playerSlot = h('section', { class: 'player-area', id: 'player', 'aria-label': 'Video', tabindex: -1 });
  const chatRegion = h('aside', { class: 'chat-area', 'aria-labelledby': CHAT_HEADING_ID });

  const liveBadge = h('span', { class: 'live-badge', 'data-state': 'offline' }, 'Offline');
  const statusText = h('p', { class: 'sr-only', role: 'status' });
  const viewerCount = h('span', { class: 'viewer-count', hidden: true });
  const streamTitle = h('h2', { class: 'stream-title', id: 'stream-title' });
  const summary = h('p', { class: 'summary' });
  const tags = h('ul', { class: 'tags', 'aria-label': 'Tags', hidden: true });
  const social = h('ul', { class: 'social', 'aria-label': 'Elsewhere', hidden: true });
  const pageContent = h('div', { class: 'page-content' });
  const info = h(
    'section',
    { class: 'stream-info', 'aria-labelledby': 'stream-title' },
    h('div', { class: 'status-row' }, liveBadge, viewerCount, statusText),
    streamTitle,
    summary,
    tags,
    social,
    pageContent,
  );

  const main = h('main', { class: 'layout', id: 'main' }, playerSlot, chatRegion, info);
  const footerVersion = h('span', { class: 'version' }, 'owncastd');
  const footer = h(
    'footer',
    { class: 'site-footer' },
    'Powered by ',
    footerVersion,
  );
  const skip = h('a', { class: 'skip-link', href: '#player' }, 'Skip to the video');

  body.replaceChildren(skip, header, main, footer);
  return {
    header, logo, serverName, followSlot, main, playerSlot, chatRegion, info, liveBadge, statusText,
    viewerCount, streamTitle, summary, tags, social, pageContent, footerVersion,
  };
}

/** The document title: "Name", or "Title · Name" while live with a title. */
export function pageTitle(config: WebConfig | null, status: Status | null): string {
  const name = config?.name?.trim() || 'Owncast';
  const title = status?.online ? (status.streamTitle || config?.streamTitle || '').trim() : '';
  return title ? `${title} · ${name}` : name;
}

/** Owncast's display names for a few platforms; others get a capitalised slug. */
export function platformLabel(platform: string): string {
  const known: Record<string, string> = {
    github: 'GitHub', youtube: 'YouTube', tiktok: 'TikTok', linkedin: 'LinkedIn', soundcloud: 'SoundCloud',
    mastodon: 'Mastodon', twitter: 'Twitter', instagram: 'Instagram', twitch: 'Twitch', discord: 'Discord',
  };
  const key = platform.trim().toLowerCase();
  return known[key] ?? (key ? key[0].toUpperCase() + key.slice(1) : 'Link');
}

function renderSocial(list: HTMLUListElement, handles: SocialHandle[] | undefined): void {
  const items = (Array.isArray(handles) ? handles : [])
    .filter((s) => s && typeof s.url === 'string' && /^https?:\/\//i.test(s.url.trim()))
    .map((s) => {
      const label = platformLabel(String(s.platform ?? ''));
      const img =
        s.icon && isSafeUrl(s.icon) ? h('img', { src: s.icon, alt: '', width: 20, height: 20, loading: 'lazy' }) : null;
      img?.addEventListener('error', () => img.remove());
      return h('li', {}, h('a', { href: s.url.trim(), rel: 'me noopener', target: '_blank' }, img, label));
    });
  list.replaceChildren(...items);
  list.hidden = items.length === 0;
}

function renderTags(list: HTMLUListElement, tags: string[] | undefined): void {
  const items = (Array.isArray(tags) ? tags : [])
    .filter((t) => typeof t === 'string' && t.trim() !== '')
    .map((t) => h('li', {}, `#${t.trim().replace(/^#/, '')}`));
  list.replaceChildren(...items);
  list.hidden = items.length === 0;
}

/** Applies GET /api/config to the document and the layout. Safe to call again with a newer config. */
export function applyConfig(doc: Document, layout: ViewerLayout, config: WebConfig): void {
  applyAppearanceVariables(doc.documentElement, config.appearanceVariables);
  const name = config.name?.trim() || 'Owncast';
  layout.serverName.textContent = name;
  layout.summary.textContent = config.summary ?? '';
  layout.summary.hidden = !config.summary;
  renderTags(layout.tags, config.tags);
  renderSocial(layout.social, config.socialHandles);
  setSafeHtml(layout.pageContent, config.extraPageContent ?? '');
  renderFollow(layout.followSlot, config.federation);
  layout.footerVersion.textContent = config.version?.trim() || 'owncastd';
  if (!layout.streamTitle.textContent) layout.streamTitle.textContent = config.streamTitle || name;
  doc.body.classList.toggle('chat-disabled', config.chatDisabled === true);
  // Last, so the operator's CSS comes after ours and after anything above added.
  applyCustomStyles(doc, config.customStyles);
}

/** Applies one /api/status poll: badge, announcement (only on change), title, viewer count. */
export function applyStatus(
  doc: Document,
  layout: ViewerLayout,
  config: WebConfig | null,
  status: Status,
  state: StreamState,
): void {
  const live = state === 'live';
  layout.liveBadge.dataset.state = state;
  layout.liveBadge.textContent = live ? 'Live' : 'Offline';
  const announcement = stateAnnouncement(state);
  if (layout.statusText.textContent !== announcement) layout.statusText.textContent = announcement;
  const count = viewerCountText(config, status);
  layout.viewerCount.textContent = count ?? '';
  layout.viewerCount.hidden = count === null;
  const title = (status.streamTitle || config?.streamTitle || '').trim();
  layout.streamTitle.textContent = title || config?.name?.trim() || 'Owncast';
  doc.title = pageTitle(config, status);
}
