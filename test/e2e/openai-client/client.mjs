// The official openai client (npm, pinned in package-lock.json) against
// ./model serve. Run by test/e2e/openai_client.py, which starts the server
// and passes: node client.mjs BASE_URL EXPECTED_JSON
//   EXPECTED_JSON: {"prompt": [ids], "greedy": [ids]} — the command line's
//   greedy tokens for that prompt (6 tokens, --ignore-eos).
// Prints one "ok"/"FAIL" line per check; exits 1 on any failure.
import OpenAI from "openai";

const [base, expectedJson] = process.argv.slice(2);
const expected = JSON.parse(expectedJson);
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "none", maxRetries: 0, timeout: 120000 });
let failures = 0;
function check(ok, what) {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures++;
}
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

const models = await client.models.list();
const model = models.data[0].id;
check(models.data.length === 1 && typeof model === "string", `models.list: ${model}`);

// Completions, greedy: the command line's tokens.
const greedy = await client.completions.create({
  model, prompt: expected.prompt, max_tokens: 6, temperature: 0, ignore_eos: true });
check(same(greedy.choices[0].token_ids, expected.greedy), "completions: greedy tokens as the command line's");
check(greedy.usage.completion_tokens === 6 && greedy.choices[0].finish_reason === "length",
  "completions: usage and finish_reason");

// Completions with logprobs, n, at temperature 1 and 0.7.
for (const temperature of [1, 0.7]) {
  const r = await client.completions.create({
    model, prompt: "The sky is", max_tokens: 5, temperature, n: 3, seed: 11, logprobs: 3,
    ignore_eos: true });
  const lp = r.choices.map((c) => c.logprobs);
  check(r.choices.length === 3 && lp.every((l) => l.tokens.length === 5 &&
    l.token_logprobs.length === 5 && l.token_logprobs.every((v) => v <= 0) &&
    l.top_logprobs.every((t) => Object.keys(t).length >= 1 && Object.keys(t).length <= 3) &&
    l.text_offset.length === 5), `completions: n=3, logprobs=3 at temperature ${temperature}`);
}

// Chat, plain and streamed, with logprobs in chat's shape.
const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: "Why is the sky blue?" }];
const chat = await client.chat.completions.create({
  model, messages, max_completion_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 2,
  ignore_eos: true });
const content = chat.choices[0].logprobs.content;
check(chat.choices[0].message.role === "assistant" && typeof chat.choices[0].message.content === "string",
  "chat: an assistant message");
check(content.length === 6 && content.every((t) => t.top_logprobs.length === 2 && Array.isArray(t.bytes) &&
  Math.abs(t.logprob - t.top_logprobs[0].logprob) < 1e-6), "chat: logprobs with top_logprobs 2 (greedy: the likeliest)");
for (const temperature of [1, 0.7]) {
  const r = await client.chat.completions.create({
    model, messages, max_completion_tokens: 4, temperature, seed: 3, logprobs: true,
    top_logprobs: 1, ignore_eos: true });
  check(r.choices[0].logprobs.content.length === 4, `chat: logprobs at temperature ${temperature}`);
}
const stream = await client.chat.completions.create({
  model, messages, max_completion_tokens: 6, temperature: 0, stream: true,
  stream_options: { include_usage: true }, ignore_eos: true });
let text = "", usage = null, finish = null;
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    text += c.delta.content ?? "";
    if (c.finish_reason) finish = c.finish_reason;
  }
}
check(text === chat.choices[0].message.content && finish === "length" && usage?.completion_tokens === 6,
  "chat streaming: the same text, finish_reason, usage");

// Completions streamed; a stop string.
const cstream = await client.completions.create({
  model, prompt: expected.prompt, max_tokens: 6, temperature: 0, stream: true, ignore_eos: true });
const ids = [];
for await (const chunk of cstream) for (const c of chunk.choices) ids.push(...c.token_ids);
check(same(ids, expected.greedy), "completions streaming: the command line's tokens");
const full = (await client.completions.create({
  model, prompt: "The sky is", max_tokens: 10, temperature: 0, ignore_eos: true })).choices[0].text;
if (full.length >= 5) {
  const stop = full.slice(2, 4);
  const cut = await client.completions.create({
    model, prompt: "The sky is", max_tokens: 10, temperature: 0, stop: [stop], ignore_eos: true });
  check(cut.choices[0].text === full.slice(0, full.indexOf(stop)) && cut.choices[0].finish_reason === "stop",
    "completions: a stop string");
}

// Errors the client raises as its error classes.
async function status(promise) {
  try { await promise; return 200; } catch (e) { return e.status ?? -1; }
}
check(await status(client.chat.completions.create({
  model, messages, tools: [{ type: "function", function: { name: "f", parameters: {} } }] })) === 400,
  "an unsupported field (tools): 400");
check(await status(client.chat.completions.create({
  model, messages, response_format: { type: "json_object" } })) === 400,
  "an unsupported field (response_format): 400");
check(await status(client.completions.create({ model: "nope", prompt: "x" })) === 404, "an unknown model: 404");
check(await status(client.completions.create({ model, prompt: "x", temperature: -2 })) === 400,
  "temperature out of range: 400");

process.exit(failures ? 1 : 0);
