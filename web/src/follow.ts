/**
 * The fediverse follow slot: hidden unless federation is enabled. The button asks for the viewer's own
 * account and hands over to their server via POST /api/remotefollow.
 */
import { remoteFollow } from './api';
import { h } from './dom';
import type { FederationInfo } from './types';

/** "1 follower" / "1,234 followers", or null when the count is unknown. */
export function followerCountText(count: unknown): string | null {
  if (typeof count !== 'number' || !Number.isFinite(count) || count < 0) return null;
  const n = Math.floor(count);
  return `${n.toLocaleString('en-US')} ${n === 1 ? 'follower' : 'followers'}`;
}

export function renderFollow(slot: HTMLElement, federation: FederationInfo | undefined): void {
  if (!federation?.enabled) {
    slot.hidden = true;
    slot.replaceChildren();
    return;
  }
  const doc = slot.ownerDocument;
  const count = followerCountText(federation.followerCount);
  const button = h('button', { type: 'button', class: 'follow-button' }, 'Follow');
  const input = h('input', {
    type: 'text',
    id: 'follow-account',
    name: 'account',
    required: true,
    autocomplete: 'username',
    spellcheck: 'false',
    placeholder: 'you@example.social',
  });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  const form = h(
    'form',
    { method: 'dialog', class: 'follow-form' },
    h('h2', { id: 'follow-title' }, 'Follow this stream'),
    federation.account ? h('p', {}, `Follow ${federation.account} from your fediverse account to hear when it goes live.`) : null,
    h('label', { for: 'follow-account' }, 'Your fediverse account'),
    input,
    error,
    h('div', { class: 'form-actions' }, cancel, h('button', { type: 'submit' }, 'Continue')),
  );
  const dialog = h('dialog', { class: 'follow-dialog', 'aria-labelledby': 'follow-title' }, form);

  const close = () => {
    if (typeof dialog.close === 'function') dialog.close();
    else dialog.removeAttribute('open');
    button.focus();
  };
  button.addEventListener('click', () => {
    error.textContent = '';
    if (typeof dialog.showModal === 'function') dialog.showModal();
    else dialog.setAttribute('open', '');
    input.focus();
  });
  cancel.addEventListener('click', close);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const account = input.value.trim().replace(/^@/, '');
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(account)) {
      error.textContent = 'Enter your account as name@server.';
      return;
    }
    try {
      const url = await remoteFollow(account);
      if (!/^https?:\/\//i.test(url)) throw new Error('Your server returned an unusable address.');
      doc.defaultView?.location.assign(url);
    } catch (err) {
      error.textContent = err instanceof Error ? err.message : 'Following failed.';
    }
  });

  slot.replaceChildren(button, ...(count ? [h('span', { class: 'follower-count' }, count)] : []), dialog);
  slot.hidden = false;
}
