import { describe, expect, it } from 'vitest';
import { chatModeFromPath } from './embed';

describe('chatModeFromPath', () => {
  it.each([
    ['/embed/chat/readwrite', 'readwrite'],
    ['/embed/chat/readwrite/', 'readwrite'],
    ['/embed/chat/ReadWrite', 'readwrite'],
    ['/embed/chat/readonly', 'readonly'],
    ['/embed/chat/readonly/', 'readonly'],
    ['/embed/chat', 'readonly'],
    ['/embed-chat.html', 'readonly'],
    ['/embed/chat/readwrite-not', 'readonly'],
    ['/embed/chat/readonly/readwrite/x', 'readonly'],
    ['', 'readonly'],
  ])('%s is %s', (path, mode) => {
    expect(chatModeFromPath(path)).toBe(mode);
  });
});
