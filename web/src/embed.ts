/** Embed helpers: which chat mode a URL asks for. */

export type ChatMode = 'readonly' | 'readwrite';

/**
 * `/embed/chat/readwrite` (with or without a trailing slash, any case) is read-write; every other
 * path, including `/embed/chat/readonly` and the bare `/embed-chat.html`, is read-only: an embed
 * never offers a message box unless its URL asks for one.
 */
export function chatModeFromPath(pathname: string): ChatMode {
  const path = pathname.split(/[?#]/, 1)[0].replace(/\/+$/, '').toLowerCase();
  return path.endsWith('/embed/chat/readwrite') ? 'readwrite' : 'readonly';
}
