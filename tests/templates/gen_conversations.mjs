// One-off helper that wrote conversations.json (kept for reference; the JSON
// file is the test input).
import fs from "node:fs";

const weatherTool = {
  type: "function",
  function: {
    name: "get_current_weather",
    description: "Get the current weather in a given location",
    parameters: {
      type: "object",
      properties: {
        location: { type: "string", description: "The city and state, e.g. San Francisco, CA" },
        unit: { type: "string", enum: ["celsius", "fahrenheit"], default: "celsius" },
        days: { type: "integer", minimum: 1, maximum: 14, default: 1 },
        threshold: { type: "number", default: 0.5 },
        precise: { type: "boolean", default: false },
        note: { type: ["string", "null"], default: null },
      },
      required: ["location"],
    },
  },
};
const searchTool = {
  type: "function",
  function: {
    name: "web_search",
    description: "Search the web. Returns \"title\", url & snippet — in any language: 日本語, émoji 🌍.",
    parameters: {
      type: "object",
      properties: {
        query: { type: "string" },
        filters: {
          type: "object",
          properties: { site: { type: "string" }, "2": { type: "integer" }, "10": { type: "integer" }, after: { type: "string", format: "date" } },
        },
        max_results: { type: "integer", default: 5 },
        scores: { type: "array", items: { type: "number" }, default: [1.0, 2.5, -0.25, 1e-7, 1e21, 123456789012] },
      },
      required: ["query"],
    },
  },
};

const C = [];
const add = (name, o) => C.push({ name, ...o });

add("single_user", { messages: [{ role: "user", content: "Hello, how are you?" }], add_generation_prompt: true });
add("system_user", {
  messages: [
    { role: "system", content: "You are a friendly assistant who answers briefly." },
    { role: "user", content: "What is the capital of France?" },
  ],
  add_generation_prompt: true,
});
add("multi_turn_system", {
  messages: [
    { role: "system", content: "You are a pirate." },
    { role: "user", content: "Hi!" },
    { role: "assistant", content: "Arr, ahoy matey!" },
    { role: "user", content: "Where is the treasure?" },
  ],
  add_generation_prompt: true,
});
add("multi_turn_no_generation_prompt", {
  messages: [
    { role: "user", content: "Tell me a joke." },
    { role: "assistant", content: "Why did the chicken cross the road? To get to the other side." },
  ],
  add_generation_prompt: false,
});
add("user_last_no_generation_prompt", {
  messages: [
    { role: "user", content: "One" },
    { role: "assistant", content: "Two" },
    { role: "user", content: "Three" },
  ],
  add_generation_prompt: false,
});
add("tools_available", {
  messages: [
    { role: "system", content: "You can use tools." },
    { role: "user", content: "What's the weather like in Oslo?" },
  ],
  tools: [weatherTool, searchTool],
  add_generation_prompt: true,
});
add("tools_no_system", {
  messages: [{ role: "user", content: "Search for jinja templates" }],
  tools: [searchTool],
  add_generation_prompt: true,
});
add("tool_call_roundtrip", {
  messages: [
    { role: "user", content: "What's the weather like in Paris?" },
    {
      role: "assistant",
      content: "",
      tool_calls: [
        { id: "call_1", type: "function", function: { name: "get_current_weather", arguments: { location: "Paris, France", unit: "celsius", days: 2, threshold: 1.5, precise: true } } },
      ],
    },
    { role: "tool", tool_call_id: "call_1", name: "get_current_weather", content: "{\"temperature\": 22.5, \"condition\": \"sunny\"}" },
  ],
  tools: [weatherTool],
  add_generation_prompt: true,
});
add("tool_call_string_arguments", {
  messages: [
    { role: "user", content: "Find the weather in Tokyo" },
    {
      role: "assistant",
      content: null,
      tool_calls: [{ id: "abc", type: "function", function: { name: "get_current_weather", arguments: "{\"location\": \"Tokyo\"}" } }],
    },
    { role: "tool", tool_call_id: "abc", content: "Rainy, 18°C" },
    { role: "assistant", content: "It is rainy in Tokyo, 18°C." },
    { role: "user", content: "Thanks!" },
  ],
  tools: [weatherTool],
  add_generation_prompt: true,
});
add("parallel_tool_calls", {
  messages: [
    { role: "system", content: "Use tools when useful." },
    { role: "user", content: "Weather in Oslo and Stockholm?" },
    {
      role: "assistant",
      content: "Let me check both.",
      tool_calls: [
        { id: "c1", type: "function", function: { name: "get_current_weather", arguments: { location: "Oslo" } } },
        { id: "c2", type: "function", function: { name: "get_current_weather", arguments: { location: "Stockholm", unit: "fahrenheit" } } },
      ],
    },
    { role: "tool", tool_call_id: "c1", content: "Oslo: 5°C" },
    { role: "tool", tool_call_id: "c2", content: "Stockholm: 41°F" },
  ],
  tools: [weatherTool],
  add_generation_prompt: true,
});
add("tool_call_without_function_wrapper", {
  messages: [
    { role: "user", content: "ping" },
    { role: "assistant", content: "", tool_calls: [{ name: "web_search", arguments: { query: "ping" } }] },
    { role: "tool", content: "pong" },
  ],
  tools: [searchTool],
  add_generation_prompt: true,
});
add("thinking_enabled", {
  messages: [{ role: "user", content: "Solve 12 * 13." }],
  add_generation_prompt: true,
  enable_thinking: true,
});
add("thinking_disabled", {
  messages: [
    { role: "system", content: "Be concise." },
    { role: "user", content: "Solve 12 * 13." },
  ],
  add_generation_prompt: true,
  enable_thinking: false,
});
add("reasoning_content_field", {
  messages: [
    { role: "user", content: "Is 17 prime?" },
    { role: "assistant", content: "Yes, 17 is prime.", reasoning_content: "\nCheck divisors 2, 3: none divide 17.\n" },
    { role: "user", content: "And 21?" },
  ],
  add_generation_prompt: true,
  enable_thinking: true,
});
add("think_tags_in_content", {
  messages: [
    { role: "user", content: "Hi" },
    { role: "assistant", content: "<think>\nThe user greets me.\n</think>\n\nHello! How can I help?" },
    { role: "user", content: "Tell me about Jinja." },
    { role: "assistant", content: "<think>\nExplain templates.\n</think>\n\nJinja is a template engine." },
  ],
  add_generation_prompt: false,
  enable_thinking: true,
});
add("multi_step_tool_with_reasoning", {
  messages: [
    { role: "system", content: "You are an agent." },
    { role: "user", content: "Plan my trip to Rome." },
    {
      role: "assistant",
      content: "",
      reasoning_content: "I should check the weather first.",
      tool_calls: [{ type: "function", function: { name: "get_current_weather", arguments: { location: "Rome" } } }],
    },
    { role: "tool", content: "<tool_response>sunny</tool_response>" },
    { role: "assistant", content: "<think>\nIt is sunny.\n</think>\n\nPack sunglasses for Rome!" },
  ],
  tools: [weatherTool],
  add_generation_prompt: true,
  enable_thinking: true,
});
add("image_parts", {
  messages: [
    { role: "user", content: [{ type: "image" }, { type: "text", text: "What is in this picture?" }] },
  ],
  add_generation_prompt: true,
});
add("image_parts_multi_turn", {
  messages: [
    { role: "user", content: [{ type: "text", text: "Compare these two images." }, { type: "image" }, { type: "image" }] },
    { role: "assistant", content: [{ type: "text", text: "The first shows a cat, the second a dog." }] },
    { role: "user", content: [{ type: "image" }, { type: "text", text: "  And this one?  " }] },
  ],
  add_generation_prompt: true,
});
add("parts_unicode_multi_turn", {
  messages: [
    { role: "user", content: [{ type: "text", text: "Qu'est-ce que c'est ? 🤔" }, { type: "image" }] },
    { role: "assistant", content: [{ type: "text", text: "C'est un château 🏰 — 城." }] },
    { role: "user", content: [{ type: "text", text: "Merci!\n" }] },
  ],
  add_generation_prompt: false,
});
add("tool_call_string_arguments_empty_content", {
  messages: [
    { role: "user", content: "Weather in Cairo?" },
    {
      role: "assistant",
      content: "",
      tool_calls: [{ id: "x1", type: "function", function: { name: "get_current_weather", arguments: "{\"location\": \"Cairo\", \"unit\": \"celsius\"}" } }],
    },
    { role: "tool", tool_call_id: "x1", content: "35°C, clear" },
  ],
  tools: [weatherTool],
  add_generation_prompt: true,
  enable_thinking: false,
});
add("system_as_parts", {
  messages: [
    { role: "system", content: [{ type: "text", text: "You describe images precisely." }] },
    { role: "user", content: [{ type: "image" }, { type: "text", text: "Describe." }] },
  ],
  add_generation_prompt: true,
});
add("unicode_content", {
  messages: [
    { role: "system", content: "Réponds en français, s'il te plaît. Ünïcödé ✓" },
    { role: "user", content: "日本語で説明してください 🌸🍣 — also Ελληνικά ΣΟΦΙΑ, עברית, and e\u0301 combining." },
    { role: "assistant", content: "はい！😀 Voilà: «guillemets» ‘quotes’ “double” …" },
    { role: "user", content: "Emoji ZWJ: 👩‍💻 flags: 🇳🇴 and a non-breaking\u00a0space." },
  ],
  add_generation_prompt: true,
});
add("whitespace_edges", {
  messages: [
    { role: "system", content: "\n\n  Indented system prompt.\n\t" },
    { role: "user", content: "   leading and trailing spaces   " },
    { role: "assistant", content: "\nline one\n\nline two\n" },
    { role: "user", content: "\u3000ideographic space\u3000" },
  ],
  add_generation_prompt: true,
});
add("special_characters", {
  messages: [
    { role: "user", content: "Braces {{ not a tag }} {% nor this %} and {# comment #}, quotes \" ' `, backslash \\n \\ and tags </s> <|im_end|> <|eot_id|>" },
    { role: "assistant", content: "JSON: {\"a\": [1, 2, {\"b\": null}]}\n```python\nprint('hi')\n```" },
    { role: "user", content: "Tab\there, CR\r\nthere, control \u0001\u001f and \u007f." },
  ],
  add_generation_prompt: true,
});
add("empty_contents", {
  messages: [
    { role: "user", content: "" },
    { role: "assistant", content: "" },
    { role: "user", content: "Now something." },
  ],
  add_generation_prompt: true,
});
add("ipython_tool_result_object", {
  messages: [
    { role: "user", content: "Get weather for Bergen" },
    { role: "assistant", tool_calls: [{ type: "function", function: { name: "get_current_weather", arguments: { location: "Bergen" } } }] },
    { role: "ipython", content: { temperature: 9, unit: "celsius", rain: [0.5, 1.0, 2.25] } },
  ],
  tools: [weatherTool],
  add_generation_prompt: true,
});
add("long_conversation", {
  messages: [{ role: "system", content: "Count with me." }].concat(
    Array.from({ length: 12 }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: `Turn ${i + 1}: ${"x".repeat(i)}` })),
  ),
  add_generation_prompt: true,
});
add("consecutive_user_messages", {
  messages: [
    { role: "user", content: "First" },
    { role: "user", content: "Second" },
  ],
  add_generation_prompt: true,
});
add("llama_kwargs", {
  messages: [
    { role: "system", content: "Use the functions." },
    { role: "user", content: "What's the weather in Lima?" },
  ],
  tools: [weatherTool],
  tools_in_user_message: false,
  date_string: "01 Jan 2030",
  add_generation_prompt: true,
});
add("tools_empty_list", {
  messages: [
    { role: "system", content: "No tools today." },
    { role: "user", content: "Hello" },
  ],
  tools: [],
  add_generation_prompt: true,
});
add("no_messages_keys_extra", {
  messages: [{ role: "user", content: "Hello", name: "alice", extra: { nested: [1, 2, 3] } }],
  add_generation_prompt: true,
  custom_flag: true,
});

fs.writeFileSync(new URL("./conversations.json", import.meta.url), JSON.stringify(C, null, 1) + "\n");
console.log(C.length, "conversations");
