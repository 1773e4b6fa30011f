
CREATE SCHEMA fixture_v6;

CREATE TABLE fixture_v6.chatstore_schema (
    version integer NOT NULL,
    counter text
);

CREATE TABLE fixture_v6.compactions (
    hid bigint NOT NULL,
    n bigint NOT NULL,
    through text NOT NULL,
    through_pos bigint NOT NULL,
    body jsonb NOT NULL,
    cost_text bigint NOT NULL,
    cost_flat bigint NOT NULL,
    created_at bigint NOT NULL
);

CREATE TABLE fixture_v6.histories (
    hid bigint NOT NULL,
    name text NOT NULL COLLATE pg_catalog."C",
    count bigint DEFAULT 0 NOT NULL,
    rounds bigint DEFAULT 0 NOT NULL,
    caller_ids bigint DEFAULT 0 NOT NULL,
    created_at bigint,
    updated_at bigint,
    next_seq bigint DEFAULT 0 NOT NULL,
    cost_text bigint DEFAULT 0 NOT NULL,
    cost_flat bigint DEFAULT 0 NOT NULL
);

ALTER TABLE fixture_v6.histories ALTER COLUMN hid ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME fixture_v6.histories_hid_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE fixture_v6.idempotency_keys (
    hid bigint NOT NULL,
    key text NOT NULL COLLATE pg_catalog."C",
    fingerprint text NOT NULL,
    written integer NOT NULL,
    expires_at timestamp with time zone NOT NULL
);

CREATE TABLE fixture_v6.messages (
    hid bigint NOT NULL,
    seq bigint NOT NULL,
    kind smallint NOT NULL,
    message_id text,
    body jsonb NOT NULL,
    created_at bigint,
    role text,
    text_tsv tsvector,
    reasoning_tsv tsvector,
    cost_text bigint,
    cost_flat bigint
);

CREATE TABLE fixture_v6.metadata (
    hid bigint NOT NULL,
    key text NOT NULL COLLATE pg_catalog."C",
    value text NOT NULL COLLATE pg_catalog."C"
);

INSERT INTO fixture_v6.chatstore_schema VALUES (6, 'approx');

INSERT INTO fixture_v6.compactions VALUES (1, 1, 'q-2', 5, '{"meta": {"context_compaction": {"through": "q-2", "strategy": "summarization"}}, "name": null, "role": "user", "content": [{"text": "Summary: the order shipped."}]}', 34, 0, 1796173686367);

INSERT INTO fixture_v6.histories OVERRIDING SYSTEM VALUE VALUES (2, 'bob', 2, 1, 0, 1796173682526, 1796173682526, 2, 26, 0);
INSERT INTO fixture_v6.histories OVERRIDING SYSTEM VALUE VALUES (3, 'carol', 3, 1, 0, 1796173682827, 1796173683085, 4, 124, 1085);
INSERT INTO fixture_v6.histories OVERRIDING SYSTEM VALUE VALUES (5, 'alice-fork', 6, 2, 1, 1796173683360, 1796173683360, 7, 174, 0);
INSERT INTO fixture_v6.histories OVERRIDING SYSTEM VALUE VALUES (1, 'support/alice', 7, 2, 1, 1796173682519, 1796173686367, 7, 196, 0);

INSERT INTO fixture_v6.messages VALUES (1, 0, 2, NULL, '{"meta": {}, "name": null, "role": "system", "content": [{"text": "You are a support agent."}]}', 1796173682519, 'system', '''a'':3 ''agent'':5 ''are'':2 ''support'':4 ''you'':1', NULL, 33, 0);
INSERT INTO fixture_v6.messages VALUES (1, 1, 0, NULL, '{"meta": {}, "name": null, "role": "user", "content": [{"text": "Where is my order?"}]}', 1796173682519, 'user', '''is'':2 ''my'':3 ''order'':4 ''where'':1', NULL, 25, 0);
INSERT INTO fixture_v6.messages VALUES (1, 2, 0, NULL, '{"meta": {}, "name": null, "role": "assistant", "content": [{"tool_call": {"id": "call_1", "extra": null, "arguments": {"order": "42"}, "tool_name": "lookup"}}]}', 1796173682519, 'assistant', '''42'':3 ''lookup'':1 ''order'':2', NULL, 48, 0);
INSERT INTO fixture_v6.messages VALUES (1, 3, 0, NULL, '{"meta": {}, "name": null, "role": "tool", "content": [{"tool_call_result": {"error": false, "origin": {"id": "call_1", "extra": null, "arguments": {"order": "42"}, "tool_name": "lookup"}, "result": "shipped"}}]}', 1796173682519, 'tool', '''shipped'':1', NULL, 21, 0);
INSERT INTO fixture_v6.messages VALUES (1, 4, 1, NULL, '{"meta": {}, "name": null, "role": "assistant", "content": [{"text": "It shipped yesterday."}]}', 1796173682519, 'assistant', '''it'':1 ''shipped'':2 ''yesterday'':3', NULL, 33, 0);
INSERT INTO fixture_v6.messages VALUES (1, 5, 0, 'q-2', '{"meta": {}, "name": null, "role": "user", "content": [{"text": "Thanks!"}]}', 1796173682519, 'user', '''thanks'':1', NULL, 14, 0);
INSERT INTO fixture_v6.messages VALUES (1, 6, 0, '5', '{"meta": {}, "name": null, "role": "user", "content": [{"text": "One more thing."}]}', 1796173682519, 'user', '''more'':2 ''one'':1 ''thing'':3', NULL, 22, 0);
INSERT INTO fixture_v6.messages VALUES (2, 0, 0, NULL, '{"meta": {}, "name": null, "role": "user", "content": [{"text": "hi"}]}', 1796173682526, 'user', '''hi'':1', NULL, 9, 0);
INSERT INTO fixture_v6.messages VALUES (2, 1, 1, NULL, '{"meta": {}, "name": null, "role": "assistant", "content": [{"text": "hello"}]}', 1796173682526, 'assistant', '''hello'':1', NULL, 17, 0);
INSERT INTO fixture_v6.messages VALUES (3, 0, 0, NULL, '{"meta": {}, "name": null, "role": "user", "content": [{"text": "What is in this picture? Ünïcödé 你好"}, {"image": {"meta": {}, "detail": "low", "mime_type": "image/png", "validation": true, "base64_image": "iVBORw0KGgo="}}]}', 1796173682857, 'user', '''in'':3 ''is'':2 ''picture'':5 ''this'':4 ''unicode'':6 ''what'':1 ''你'':7 ''好'':8', NULL, 57, 85);
INSERT INTO fixture_v6.messages VALUES (3, 2, 0, NULL, '{"meta": {}, "name": null, "role": "user", "content": [{"text": "And this file?"}, {"file": {"extra": {}, "filename": "a.pdf", "mime_type": "application/pdf", "validation": true, "base64_data": "JVBERi0xLjQ="}}]}', 1796173682857, 'user', '''and'':1 ''file'':3 ''this'':2', NULL, 42, 1000);
INSERT INTO fixture_v6.messages VALUES (3, 3, 1, NULL, '{"meta": {}, "name": null, "role": "assistant", "content": [{"text": "An empty PDF."}]}', 1796173682857, 'assistant', '''an'':1 ''empty'':2 ''pdf'':3', NULL, 25, 0);
INSERT INTO fixture_v6.messages VALUES (5, 0, 2, NULL, '{"meta": {}, "name": null, "role": "system", "content": [{"text": "You are a support agent."}]}', 1796173682519, 'system', '''a'':3 ''agent'':5 ''are'':2 ''support'':4 ''you'':1', NULL, 33, 0);
INSERT INTO fixture_v6.messages VALUES (5, 1, 0, NULL, '{"meta": {}, "name": null, "role": "user", "content": [{"text": "Where is my order?"}]}', 1796173682519, 'user', '''is'':2 ''my'':3 ''order'':4 ''where'':1', NULL, 25, 0);
INSERT INTO fixture_v6.messages VALUES (5, 2, 0, NULL, '{"meta": {}, "name": null, "role": "assistant", "content": [{"tool_call": {"id": "call_1", "extra": null, "arguments": {"order": "42"}, "tool_name": "lookup"}}]}', 1796173682519, 'assistant', '''42'':3 ''lookup'':1 ''order'':2', NULL, 48, 0);
INSERT INTO fixture_v6.messages VALUES (5, 3, 0, NULL, '{"meta": {}, "name": null, "role": "tool", "content": [{"tool_call_result": {"error": false, "origin": {"id": "call_1", "extra": null, "arguments": {"order": "42"}, "tool_name": "lookup"}, "result": "shipped"}}]}', 1796173682519, 'tool', '''shipped'':1', NULL, 21, 0);
INSERT INTO fixture_v6.messages VALUES (5, 4, 1, NULL, '{"meta": {}, "name": null, "role": "assistant", "content": [{"text": "It shipped yesterday."}]}', 1796173682519, 'assistant', '''it'':1 ''shipped'':2 ''yesterday'':3', NULL, 33, 0);
INSERT INTO fixture_v6.messages VALUES (5, 5, 0, 'q-2', '{"meta": {}, "name": null, "role": "user", "content": [{"text": "Thanks!"}]}', 1796173682519, 'user', '''thanks'':1', NULL, 14, 0);

INSERT INTO fixture_v6.metadata VALUES (3, 'user_id', 'u-7');

SELECT pg_catalog.setval('fixture_v6.histories_hid_seq', 5, true);

ALTER TABLE ONLY fixture_v6.compactions
    ADD CONSTRAINT compactions_pkey PRIMARY KEY (hid, n);

ALTER TABLE ONLY fixture_v6.histories
    ADD CONSTRAINT histories_name_key UNIQUE (name);

ALTER TABLE ONLY fixture_v6.histories
    ADD CONSTRAINT histories_pkey PRIMARY KEY (hid);

ALTER TABLE ONLY fixture_v6.idempotency_keys
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (hid, key);

ALTER TABLE ONLY fixture_v6.messages
    ADD CONSTRAINT messages_pkey PRIMARY KEY (hid, seq);

ALTER TABLE ONLY fixture_v6.metadata
    ADD CONSTRAINT metadata_pkey PRIMARY KEY (hid, key);

CREATE INDEX histories_by_updated ON fixture_v6.histories USING btree (updated_at DESC, name) WHERE (updated_at IS NOT NULL);

CREATE INDEX keys_by_expiry ON fixture_v6.idempotency_keys USING btree (hid, expires_at);

CREATE UNIQUE INDEX messages_by_id ON fixture_v6.messages USING btree (hid, message_id) WHERE (message_id IS NOT NULL);

CREATE INDEX messages_reasoning_search ON fixture_v6.messages USING gin (reasoning_tsv) WHERE (reasoning_tsv IS NOT NULL);

CREATE INDEX messages_text_search ON fixture_v6.messages USING gin (text_tsv) WHERE (text_tsv IS NOT NULL);

CREATE INDEX messages_unindexed ON fixture_v6.messages USING btree (hid, seq) WHERE (role IS NULL);

CREATE INDEX messages_unmeasured ON fixture_v6.messages USING btree (hid, seq) WHERE (cost_text IS NULL);

CREATE INDEX metadata_by_pair ON fixture_v6.metadata USING btree (key, value, hid);

ALTER TABLE ONLY fixture_v6.compactions
    ADD CONSTRAINT compactions_hid_fkey FOREIGN KEY (hid) REFERENCES fixture_v6.histories(hid) ON DELETE CASCADE;

