// Drives chatstore's OpenAI Conversations routes with the official openai
// package, as a JavaScript application would: CHATSTORE_URL is a running
// server (chatstore serve), CHATSTORE_TOKEN its token if it has any.
// Every step asserts what it got; the first failure ends the run with
// exit code 1.
import assert from "node:assert/strict";
import OpenAI from "openai";

const base = process.env.CHATSTORE_URL;
if (!base) {
  console.error("set CHATSTORE_URL to a running chatstore server");
  process.exit(2);
}
const client = new OpenAI({ baseURL: base + "/openai/v1", apiKey: process.env.CHATSTORE_TOKEN || "none", maxRetries: 0 });

async function fails(promise, status, mention) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIError, "an OpenAI.APIError: " + e);
    assert.equal(e.status, status);
    if (mention) assert.match(e.message, mention);
    return;
  }
  assert.fail("no error, want " + status);
}

const conv = await client.conversations.create({
  metadata: { user_id: "u-42" },
  items: [{ type: "message", role: "user", content: "What is the weather in Paris?" }],
});
assert.match(conv.id, /^conv_/);
assert.equal(conv.object, "conversation");
assert.deepEqual(conv.metadata, { user_id: "u-42" });

const got = await client.conversations.retrieve(conv.id);
assert.equal(got.id, conv.id);

const updated = await client.conversations.update(conv.id, { metadata: { user_id: "u-42", topic: "weather" } });
assert.equal(updated.metadata.topic, "weather");

const created = await client.conversations.items.create(conv.id, {
  items: [
    { type: "function_call", call_id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' },
    { type: "function_call_output", call_id: "call_1", output: "sunny, 22°C" },
    { type: "message", role: "assistant", content: [{ type: "output_text", text: "It is sunny and 22°C in Paris." }] },
  ],
});
assert.equal(created.data.length, 3);
assert.deepEqual(created.data.map((i) => i.type), ["function_call", "function_call_output", "message"]);

// Both orders, a page at a time with after.
async function all(order) {
  const ids = [];
  let after;
  for (;;) {
    const page = await client.conversations.items.list(conv.id, { order, limit: 1, ...(after ? { after } : {}) });
    ids.push(...page.data.map((i) => i.id));
    if (!page.has_more) return ids;
    after = page.data[page.data.length - 1].id;
  }
}
const asc = await all("asc");
const desc = await all("desc");
assert.equal(asc.length, 4);
assert.deepEqual(desc, [...asc].reverse());

const call = await client.conversations.items.retrieve(asc[1], { conversation_id: conv.id });
assert.equal(call.type, "function_call");
assert.equal(call.arguments, '{"city":"Paris"}');

// The same conversation in Haystack's format through /v1.
const headers = process.env.CHATSTORE_TOKEN ? { Authorization: "Bearer " + process.env.CHATSTORE_TOKEN } : {};
const haystack = await (await fetch(`${base}/v1/histories/${conv.id}/messages?last_k=all`, { headers })).json();
assert.equal(haystack.messages.length, 4);
assert.equal(haystack.messages[1].content[0].tool_call.tool_name, "get_weather");

await client.conversations.items.delete(asc[0], { conversation_id: conv.id });
assert.equal((await client.conversations.items.list(conv.id)).data.length, 3);

await fails(client.conversations.retrieve("conv_nope"), 404);
await fails(client.conversations.items.retrieve("msg_nope", { conversation_id: conv.id }), 404);
await fails(
  client.conversations.items.create(conv.id, {
    items: Array.from({ length: 21 }, (_, i) => ({ type: "message", role: "user", content: "m" + i })),
  }),
  400,
  /20/,
);

const deleted = await client.conversations.delete(conv.id);
assert.equal(deleted.deleted, true);
await fails(client.conversations.retrieve(conv.id), 404);
console.log("openai (the version package-lock.json pins): every Conversations route answered as expected");
