import { beforeEach, describe, expect, it } from 'vitest';
import { CUSTOM_STYLE_ID } from './appearance';
import { applyConfig, applyStatus, createViewerLayout, pageTitle, platformLabel, type ViewerLayout } from './page';
import type { WebConfig } from './types';

const config: WebConfig = {
  name: 'My Stream',
  summary: 'Cooking every Sunday',
  logo: 'logo.png',
  tags: ['cooking', '#food', ''],
  socialHandles: [
    { platform: 'mastodon', url: 'https://social.example/@me', icon: '/img/platformlogos/mastodon.svg' },
    { platform: 'evil', url: 'javascript:alert(1)' },
  ],
  extraPageContent: '<p>Hello <strong>world</strong></p><script>window.pwned = 1</script>',
  streamTitle: 'Pasta night',
  offlineMessage: '<p>Back soon</p>',
  customStyles: '.stream-title { color: hotpink; }',
  appearanceVariables: { '--color-accent': '#123456' },
  hideViewerCount: false,
  chatDisabled: false,
  federation: { enabled: false, account: '', followerCount: 0 },
  version: 'owncastd 0.1.0',
};

let layout: ViewerLayout;

beforeEach(() => {
  document.head.replaceChildren();
  document.documentElement.removeAttribute('style');
  document.body.className = '';
  layout = createViewerLayout(document.body);
});

describe('layout', () => {
  it('has the landmarks and headings a screen reader needs', () => {
    expect(document.querySelector('header')).not.toBeNull();
    expect(document.querySelector('main')).not.toBeNull();
    expect(document.querySelector('footer')).not.toBeNull();
    const aside = document.querySelector('aside')!;
    expect(aside.getAttribute('aria-labelledby')).toBe('chat-heading');
    expect(document.querySelector('[role="status"]')).not.toBeNull();
    expect(document.querySelector('h1')).toBe(layout.serverName);
    // Chat comes right after the player in the DOM (and so in focus order and on narrow screens).
    const main = layout.main.children;
    expect([main[0], main[1], main[2]]).toEqual([layout.playerSlot, layout.chatRegion, layout.info]);
  });
});

describe('applyConfig', () => {
  it('fills name, summary, tags, social links, content and version', () => {
    applyConfig(document, layout, config);
    expect(layout.serverName.textContent).toBe('My Stream');
    expect(layout.summary.textContent).toBe('Cooking every Sunday');
    expect(Array.from(layout.tags.querySelectorAll('li'), (li) => li.textContent)).toEqual(['#cooking', '#food']);
    const links = layout.social.querySelectorAll('a');
    expect(links).toHaveLength(1);
    expect(links[0].getAttribute('href')).toBe('https://social.example/@me');
    expect(links[0].textContent).toBe('Mastodon');
    expect(links[0].getAttribute('rel')).toContain('me');
    expect(layout.pageContent.innerHTML).toBe('<p>Hello <strong>world</strong></p>');
    expect(layout.footerVersion.textContent).toBe('owncastd 0.1.0');
    expect(document.querySelector('footer')?.textContent).toBe('Powered by owncastd 0.1.0');
    expect(layout.streamTitle.textContent).toBe('Pasta night');
  });

  it('applies appearance variables on :root and custom CSS last in <head>', () => {
    document.head.append(document.createElement('link'));
    applyConfig(document, layout, config);
    expect(document.documentElement.style.getPropertyValue('--color-accent')).toBe('#123456');
    const style = document.head.lastElementChild!;
    expect(style.id).toBe(CUSTOM_STYLE_ID);
    expect(style.textContent).toContain('hotpink');
  });

  it('shows the follow slot only when federation is enabled', () => {
    applyConfig(document, layout, config);
    expect(layout.followSlot.hidden).toBe(true);
    applyConfig(document, layout, {
      ...config,
      federation: { enabled: true, account: '@stream@owncast.example', followerCount: 12 },
    });
    expect(layout.followSlot.hidden).toBe(false);
    expect(layout.followSlot.querySelector('button')?.textContent).toBe('Follow');
    expect(layout.followSlot.textContent).toContain('12 followers');
  });

  it('marks the page when chat is disabled', () => {
    applyConfig(document, layout, { ...config, chatDisabled: true });
    expect(document.body.classList.contains('chat-disabled')).toBe(true);
    applyConfig(document, layout, config);
    expect(document.body.classList.contains('chat-disabled')).toBe(false);
  });

  it('survives an empty config', () => {
    applyConfig(document, layout, {});
    expect(layout.serverName.textContent).toBe('Owncast');
    expect(layout.tags.hidden).toBe(true);
    expect(layout.social.hidden).toBe(true);
    expect(document.getElementById(CUSTOM_STYLE_ID)).toBeNull();
  });
});

describe('applyStatus', () => {
  it('shows the viewer count while live unless hidden', () => {
    applyStatus(document, layout, config, { online: true, viewerCount: 7, streamTitle: 'Live now' }, 'live');
    expect(layout.viewerCount.hidden).toBe(false);
    expect(layout.viewerCount.textContent).toBe('7 viewers');
    expect(layout.liveBadge.textContent).toBe('Live');
    expect(layout.streamTitle.textContent).toBe('Live now');
    expect(document.title).toBe('Live now · My Stream');

    applyStatus(document, layout, { ...config, hideViewerCount: true }, { online: true }, 'live');
    expect(layout.viewerCount.hidden).toBe(true);
  });

  it('announces a change once and hides the count offline', () => {
    applyStatus(document, layout, config, { online: true, viewerCount: 2 }, 'live');
    expect(layout.statusText.textContent).toBe('The stream is live.');
    applyStatus(document, layout, config, { online: false, viewerCount: 2 }, 'offline');
    expect(layout.statusText.textContent).toBe('The stream is offline.');
    expect(layout.viewerCount.hidden).toBe(true);
    expect(layout.liveBadge.dataset.state).toBe('offline');
    expect(document.title).toBe('My Stream');
  });
});

describe('helpers', () => {
  it('titles and labels', () => {
    expect(pageTitle(null, null)).toBe('Owncast');
    expect(pageTitle({ name: 'N', streamTitle: 'T' }, { online: false })).toBe('N');
    expect(platformLabel('github')).toBe('GitHub');
    expect(platformLabel('peertube')).toBe('Peertube');
  });
});
