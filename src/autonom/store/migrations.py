"""Append-only schema migrations. Never edit an entry; add a new one at the end."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "model registry",
        """
        CREATE TABLE models (
            name        TEXT PRIMARY KEY,
            blob        TEXT NOT NULL,
            sha256      TEXT NOT NULL,
            size_bytes  INTEGER NOT NULL,
            source      TEXT NOT NULL,
            metadata    TEXT NOT NULL,
            created_at  TEXT NOT NULL
        );
        CREATE INDEX models_sha256 ON models(sha256);
        """,
    ),
    (
        2,
        "loaded models (for autonom ps across processes)",
        """
        CREATE TABLE loaded_models (
            pid         INTEGER NOT NULL,
            name        TEXT NOT NULL,
            kind        TEXT NOT NULL,
            size_bytes  INTEGER NOT NULL,
            loaded_at   REAL NOT NULL,
            expires_at  REAL,
            PRIMARY KEY (pid, name, kind)
        );
        """,
    ),
    (
        3,
        "API keys (hashed)",
        """
        CREATE TABLE api_keys (
            id          TEXT PRIMARY KEY,
            name        TEXT NOT NULL,
            secret_hash TEXT NOT NULL UNIQUE,
            scopes      TEXT NOT NULL,
            rpm         INTEGER,
            tpm         INTEGER,
            created_at  REAL NOT NULL,
            revoked_at  REAL
        );
        """,
    ),
    (
        4,
        "request log",
        """
        CREATE TABLE request_log (
            id                TEXT PRIMARY KEY,
            created_at        REAL NOT NULL,
            route             TEXT NOT NULL,
            key_id            TEXT,
            model             TEXT,
            status            INTEGER NOT NULL,
            error             TEXT,
            request           TEXT,
            response          TEXT,
            prompt_tokens     INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            ttft_ms           REAL,
            total_ms          REAL NOT NULL,
            cancelled         INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX request_log_created ON request_log(created_at);
        CREATE INDEX request_log_model ON request_log(model, created_at);
        CREATE INDEX request_log_key ON request_log(key_id, created_at);
        """,
    ),
    (
        5,
        "document collections, documents, chunks",
        """
        CREATE TABLE collections (
            name        TEXT PRIMARY KEY,
            embedder    TEXT,
            generation  INTEGER NOT NULL DEFAULT 0,
            created_at  REAL NOT NULL
        );
        CREATE TABLE documents (
            id          INTEGER PRIMARY KEY,
            collection  TEXT NOT NULL REFERENCES collections(name) ON DELETE CASCADE,
            source      TEXT NOT NULL,
            root        TEXT NOT NULL,
            sha256      TEXT NOT NULL,
            size_bytes  INTEGER NOT NULL,
            format      TEXT NOT NULL,
            title       TEXT,
            doc_date    TEXT,
            version     TEXT,
            superseded  TEXT,
            text        TEXT NOT NULL,
            ingested_at REAL NOT NULL,
            UNIQUE (collection, source)
        );
        CREATE TABLE chunks (
            id          INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            ordinal     INTEGER NOT NULL,
            start       INTEGER NOT NULL,
            end         INTEGER NOT NULL,
            kind        TEXT NOT NULL,
            headings    TEXT NOT NULL,
            body        TEXT NOT NULL,
            injection   INTEGER NOT NULL DEFAULT 0,
            embedding   BLOB
        );
        CREATE INDEX chunks_document ON chunks(document_id, ordinal);
        CREATE TABLE skipped_files (
            collection  TEXT NOT NULL REFERENCES collections(name) ON DELETE CASCADE,
            source      TEXT NOT NULL,
            root        TEXT NOT NULL,
            reason      TEXT NOT NULL,
            seen_at     REAL NOT NULL,
            PRIMARY KEY (collection, source)
        );
        """,
    ),
    (
        6,
        "api key collection grants ('' none, '*' all, else comma-separated names)",
        """
        ALTER TABLE api_keys ADD COLUMN collections TEXT NOT NULL DEFAULT '';
        """,
    ),
    (
        7,
        "MCP client: approved tool definitions (pinned by hash) and the tool-call log",
        """
        CREATE TABLE tool_pins (
            server      TEXT NOT NULL,
            tool        TEXT NOT NULL,
            sha256      TEXT NOT NULL,
            definition  TEXT NOT NULL,
            pinned_at   REAL NOT NULL,
            PRIMARY KEY (server, tool)
        );
        CREATE TABLE tool_calls (
            id           INTEGER PRIMARY KEY,
            created_at   REAL NOT NULL,
            request_id   TEXT,
            server       TEXT NOT NULL,
            tool         TEXT NOT NULL,
            arguments    TEXT,
            outcome      TEXT NOT NULL,
            detail       TEXT,
            result_chars INTEGER NOT NULL,
            duration_ms  REAL NOT NULL,
            flagged      INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX tool_calls_request ON tool_calls(request_id);
        """,
    ),
    (
        8,
        "eval and bench runs with their per-case results",
        """
        CREATE TABLE eval_runs (
            id          TEXT PRIMARY KEY,
            created_at  REAL NOT NULL,
            kind        TEXT NOT NULL,
            label       TEXT NOT NULL,
            dataset     TEXT NOT NULL,
            batch       TEXT NOT NULL,
            settings    TEXT NOT NULL,
            summary     TEXT NOT NULL
        );
        CREATE TABLE eval_results (
            run_id        TEXT NOT NULL REFERENCES eval_runs(id) ON DELETE CASCADE,
            case_id       TEXT NOT NULL,
            round         INTEGER NOT NULL,
            correct       INTEGER NOT NULL,
            hallucinated  INTEGER NOT NULL,
            abstained     INTEGER NOT NULL,
            citation_ok   INTEGER,
            schema_ok     INTEGER,
            error         TEXT,
            ttft_ms       REAL,
            total_ms      REAL NOT NULL,
            output_tokens INTEGER NOT NULL,
            answer        TEXT NOT NULL,
            detail        TEXT NOT NULL,
            PRIMARY KEY (run_id, case_id, round)
        );
        """,
    ),
    (
        9,
        "which backend answered a request (the router's choice)",
        """
        ALTER TABLE request_log ADD COLUMN served_by TEXT;
        """,
    ),
    (
        10,
        "web UI sign-in sessions",
        """
        CREATE TABLE ui_sessions (
            token_hash  TEXT PRIMARY KEY,
            key_id      TEXT,
            csrf        TEXT NOT NULL,
            created_at  REAL NOT NULL,
            expires_at  REAL NOT NULL
        );
        CREATE INDEX ui_sessions_expiry ON ui_sessions(expires_at);
        """,
    ),
    (
        11,
        "web UI conversations, one row per message",
        """
        CREATE TABLE conversations (
            id          TEXT PRIMARY KEY,
            owner       TEXT NOT NULL,
            title       TEXT NOT NULL,
            model       TEXT NOT NULL,
            created_at  REAL NOT NULL,
            updated_at  REAL NOT NULL
        );
        CREATE INDEX conversations_owner ON conversations(owner, updated_at);
        CREATE TABLE conversation_messages (
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            ordinal     INTEGER NOT NULL,
            role        TEXT NOT NULL,
            content     TEXT NOT NULL,
            model       TEXT,
            citations   TEXT NOT NULL DEFAULT '[]',
            abstained   INTEGER,
            created_at  REAL NOT NULL,
            PRIMARY KEY (conversation_id, ordinal)
        );
        """,
    ),
    (
        12,
        "tuned models: a LoRA adapter on a base model, and the versions autonom tune made",
        """
        ALTER TABLE models ADD COLUMN adapter TEXT;
        CREATE TABLE tune_versions (
            name        TEXT NOT NULL,
            number      INTEGER NOT NULL,
            base        TEXT NOT NULL,
            adapter     TEXT NOT NULL,
            collection  TEXT,
            data_digest TEXT NOT NULL,
            training    TEXT NOT NULL DEFAULT '{}',
            metrics     TEXT NOT NULL DEFAULT '{}',
            state       TEXT NOT NULL,
            reason      TEXT,
            created_at  REAL NOT NULL,
            promoted_at REAL,
            PRIMARY KEY (name, number)
        );
        """,
    ),
    (
        13,
        "host of a loaded model's process; per-key request and token counts per second "
        "(rate limits shared by replicas on one database); eval results keep their order "
        "in a column",
        """
        ALTER TABLE eval_results ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
        UPDATE eval_results SET seq = rowid;
        ALTER TABLE loaded_models ADD COLUMN host TEXT NOT NULL DEFAULT '';
        CREATE TABLE rate_usage (
            key_id      TEXT NOT NULL,
            at_second   INTEGER NOT NULL,
            requests    INTEGER NOT NULL DEFAULT 0,
            tokens      INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (key_id, at_second)
        );
        """,
    ),
    (
        14,
        "search tables for candidate search inside PostgreSQL (SQLite searches in memory: "
        "nothing to do here)",
        "",
    ),
    (
        15,
        "ratings of the web UI's answers (good or bad), which autonom tune data can learn from",
        """
        ALTER TABLE conversation_messages ADD COLUMN rating INTEGER;
        ALTER TABLE conversation_messages ADD COLUMN rated_at REAL;
        CREATE INDEX conversation_messages_rated ON conversation_messages(rating)
            WHERE rating IS NOT NULL;
        """,
    ),
]
