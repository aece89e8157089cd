"""The Go service's audit_logs, written out by hand as that service creates it.

Not taken from graph.store.migrations, so the brownfield tests do not share
the code under test.
"""

from __future__ import annotations

# The table as the original Go service created it: the first fifteen columns only.
GO_COLUMNS = """
    id            varchar(32)  NOT NULL,
    timestamp     timestamptz  NOT NULL,
    duration_ms   integer,
    request_id    varchar(255),
    user_id       varchar(255),
    user_email    varchar(255),
    persona       varchar(100),
    tool_name     varchar(255) NOT NULL,
    toolkit_kind  varchar(100),
    toolkit_name  varchar(100),
    connection    varchar(100),
    parameters    jsonb,
    success       boolean      NOT NULL,
    error_message text,
    created_date  date         NOT NULL,
    PRIMARY KEY (id, created_date)
"""

# The newest Go service's columns after those fifteen (`session_id` text, and `purpose`).
NEWEST_GO_COLUMNS = """
    response_chars          integer      DEFAULT 0,
    request_chars           integer      DEFAULT 0,
    content_blocks          integer      DEFAULT 0,
    session_id              text         DEFAULT '',
    transport               varchar(30)  DEFAULT 'stdio',
    source                  varchar(30)  DEFAULT 'mcp',
    enrichment_applied      boolean      DEFAULT false,
    authorized              boolean      DEFAULT true,
    enrichment_tokens_full  integer      DEFAULT 0,
    enrichment_tokens_dedup integer      DEFAULT 0,
    enrichment_mode         varchar(20)  DEFAULT '',
    enrichment_match_kind   varchar(20)  DEFAULT '',
    event_kind              varchar(64),
    purpose                 text,
"""
