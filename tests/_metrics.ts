/** Test helpers for `/metrics`: where a test server serves it, and its samples read as a user reads them. */
import type { ServerEvent } from "../lib/report/events.ts";
import type { TestServer } from "./_helpers.ts";

/** The URL from the server's "http" event for `serves` (`metrics`: `http://127.0.0.1:PORT/metrics`). */
export async function httpUrl(server: TestServer, serves: "metrics" | "web"): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the server announced no ${serves} listener`)), 5000);
  });
  try {
    const e = await Promise.race([
      server.waitFor((e: ServerEvent) => e.type === "http" && e.serves === serves),
      limit,
    ]);
    return e.type === "http" ? e.url : "";
  } finally {
    clearTimeout(timer);
  }
}

/** Fetches `/metrics` and returns its text. */
export async function scrapeText(url: string): Promise<string> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  return await res.text();
}

/** Every sample of a scrape by its series (`sockkit_refused_total{reason="idle"}`), with its value. */
export function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** Fetches `/metrics` and returns its samples. */
export async function scrape(url: string): Promise<Map<string, number>> {
  return samples(await scrapeText(url));
}

/** Scrapes until `ok` holds (bounded: 5 s), for values that move just after an event; returns the last. */
export async function scrapeUntil(
  url: string,
  ok: (m: Map<string, number>) => boolean,
  limitMs = 5000,
): Promise<Map<string, number>> {
  const until = performance.now() + limitMs;
  for (;;) {
    const m = await scrape(url);
    if (ok(m) || performance.now() > until) return m;
    await new Promise((r) => setTimeout(r, 20));
  }
}
