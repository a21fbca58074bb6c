// Requests to the server, with the API key the page keeps in localStorage. A 401 anywhere
// asks for a key (main.js sets onUnauthorized).

const KEY = "localcall.apiKey";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const auth = {
  get key() {
    return localStorage.getItem(KEY) || "";
  },
  set key(value) {
    if (value) localStorage.setItem(KEY, value);
    else localStorage.removeItem(KEY);
  },
  onUnauthorized: (message) => {},
};

function headers(extra = {}) {
  const out = { ...extra };
  if (auth.key) out.Authorization = `Bearer ${auth.key}`;
  return out;
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    message = (await response.json()).error.message || message;
  } catch {
    // not OpenAI's error shape: keep the status line
  }
  if (response.status === 401) auth.onUnauthorized(message);
  return new ApiError(response.status, message);
}

async function send(path, { method = "GET", body, signal } = {}) {
  const init = { method, signal, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  return response;
}

export async function api(path, options) {
  return (await send(path, options)).json();
}

export async function blobUrl(path) {
  return URL.createObjectURL(await (await send(path)).blob());
}

// POST /v1/chat/completions with stream=true: yields each chunk as the server sends it.
export async function* streamChat(body, signal) {
  const response = await send("/v1/chat/completions", { method: "POST", body: { ...body, stream: true }, signal });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n");
      if (!data) continue;
      if (data === "[DONE]") return;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new ApiError(0, chunk.error.message); // a failure after the stream began
      yield chunk;
    }
  }
}
