-- Runtime settings changed through the admin API or CLI; keys pinned in the TOML file never land here.
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,           -- JSON
    updated_at INTEGER NOT NULL    -- unix seconds
);

-- Stream keys added at run time (keys in the TOML file are pinned and not stored).
CREATE TABLE stream_keys (
    key TEXT PRIMARY KEY,
    comment TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

-- Internal state that survives restarts: the admin password hash, peak viewer counts, last
-- connect and disconnect times.
CREATE TABLE state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL            -- JSON
);
