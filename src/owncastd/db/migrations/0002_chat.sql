-- Chat (Owncast's users, user_access_tokens, messages and ip_bans tables). Times are unix
-- seconds (REAL); previous_names and scopes are JSON arrays.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    display_color INTEGER NOT NULL,
    created_at REAL NOT NULL,
    disabled_at REAL,
    previous_names TEXT NOT NULL DEFAULT '[]',
    namechanged_at REAL,
    authenticated_at REAL,
    scopes TEXT NOT NULL DEFAULT '[]',
    type TEXT NOT NULL DEFAULT 'STANDARD',   -- STANDARD, or API for integration bots
    last_used REAL
);
CREATE INDEX users_disabled_at ON users (disabled_at);

-- A chat client's secret; only its SHA-256 (hex) is stored, so a copy of the database
-- cannot be used to speak as anyone.
CREATE TABLE user_access_tokens (
    token TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    timestamp REAL NOT NULL
);
CREATE INDEX user_access_tokens_user_id ON user_access_tokens (user_id);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    user_id TEXT,
    body TEXT NOT NULL,              -- rendered, sanitised HTML
    eventType TEXT NOT NULL,         -- CHAT, SYSTEM, CHAT_ACTION
    hidden_at REAL,
    timestamp REAL NOT NULL,
    title TEXT,
    subtitle TEXT,
    image TEXT,
    link TEXT
);
CREATE INDEX messages_user_id ON messages (user_id);
CREATE INDEX messages_hidden_at ON messages (hidden_at);
CREATE INDEX messages_timestamp ON messages (timestamp);
CREATE INDEX messages_hidden_at_timestamp ON messages (hidden_at, timestamp);

-- Banned addresses (canonical text: 192.0.2.1, 2001:db8::1) and networks (10.0.0.0/8).
CREATE TABLE ip_bans (
    ip_address TEXT PRIMARY KEY,
    notes TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
