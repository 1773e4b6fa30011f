
CREATE SCHEMA fixture_v3;

CREATE TABLE fixture_v3.chatstore_schema (
    version integer NOT NULL
);

CREATE TABLE fixture_v3.histories (
    hid bigint NOT NULL,
    name text NOT NULL COLLATE pg_catalog."C",
    count bigint DEFAULT 0 NOT NULL,
    rounds bigint DEFAULT 0 NOT NULL,
    caller_ids bigint DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE fixture_v3.histories ALTER COLUMN hid ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME fixture_v3.histories_hid_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE fixture_v3.idempotency_keys (
    hid bigint NOT NULL,
    key text NOT NULL COLLATE pg_catalog."C",
    fingerprint text NOT NULL,
    written integer NOT NULL,
    expires_at timestamp with time zone NOT NULL
);

CREATE TABLE fixture_v3.messages (
    hid bigint NOT NULL,
    seq bigint NOT NULL,
    kind smallint NOT NULL,
    message_id text,
    body jsonb NOT NULL
);

INSERT INTO fixture_v3.chatstore_schema VALUES (3);

INSERT INTO fixture_v3.histories OVERRIDING SYSTEM VALUE VALUES (1, 'support/alice', 7, 2, 1, '2026-12-01 18:10:17.169727+00', '2026-12-01 18:10:17.169727+00');
INSERT INTO fixture_v3.histories OVERRIDING SYSTEM VALUE VALUES (2, 'bob', 2, 1, 0, '2026-12-01 18:10:17.171016+00', '2026-12-01 18:10:17.171016+00');

INSERT INTO fixture_v3.messages VALUES (1, 0, 2, NULL, '{"meta": {}, "name": null, "role": "system", "content": [{"text": "You are a support agent."}]}');
INSERT INTO fixture_v3.messages VALUES (1, 1, 0, NULL, '{"meta": {}, "name": null, "role": "user", "content": [{"text": "Where is my order?"}]}');
INSERT INTO fixture_v3.messages VALUES (1, 2, 0, NULL, '{"meta": {}, "name": null, "role": "assistant", "content": [{"tool_call": {"id": "call_1", "extra": null, "arguments": {"order": "42"}, "tool_name": "lookup"}}]}');
INSERT INTO fixture_v3.messages VALUES (1, 3, 0, NULL, '{"meta": {}, "name": null, "role": "tool", "content": [{"tool_call_result": {"error": false, "origin": {"id": "call_1", "extra": null, "arguments": {"order": "42"}, "tool_name": "lookup"}, "result": "shipped"}}]}');
INSERT INTO fixture_v3.messages VALUES (1, 4, 1, NULL, '{"meta": {}, "name": null, "role": "assistant", "content": [{"text": "It shipped yesterday."}]}');
INSERT INTO fixture_v3.messages VALUES (1, 5, 0, 'q-2', '{"meta": {}, "name": null, "role": "user", "content": [{"text": "Thanks!"}]}');
INSERT INTO fixture_v3.messages VALUES (1, 6, 0, '5', '{"meta": {}, "name": null, "role": "user", "content": [{"text": "One more thing."}]}');
INSERT INTO fixture_v3.messages VALUES (2, 0, 0, NULL, '{"meta": {}, "name": null, "role": "user", "content": [{"text": "hi"}]}');
INSERT INTO fixture_v3.messages VALUES (2, 1, 1, NULL, '{"meta": {}, "name": null, "role": "assistant", "content": [{"text": "hello"}]}');

SELECT pg_catalog.setval('fixture_v3.histories_hid_seq', 2, true);

ALTER TABLE ONLY fixture_v3.histories
    ADD CONSTRAINT histories_name_key UNIQUE (name);

ALTER TABLE ONLY fixture_v3.histories
    ADD CONSTRAINT histories_pkey PRIMARY KEY (hid);

ALTER TABLE ONLY fixture_v3.idempotency_keys
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (hid, key);

ALTER TABLE ONLY fixture_v3.messages
    ADD CONSTRAINT messages_pkey PRIMARY KEY (hid, seq);

CREATE INDEX keys_by_expiry ON fixture_v3.idempotency_keys USING btree (hid, expires_at);

CREATE UNIQUE INDEX messages_by_id ON fixture_v3.messages USING btree (hid, message_id) WHERE (message_id IS NOT NULL);

