/**
 * The chat page in a real browser: Chromium (Debian's package), driven by puppeteer-core. Two pages and one
 * raw TCP client chat in both directions; names and lines that look like HTML are shown as text; a server
 * notice is shown; the pages reconnect after the server restarts. With SOCKKIT_SCREENSHOT=1 the test
 * writes the page as docs/chat.png (the README shows it).
 */
import assert from "node:assert/strict";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { startServer, type TestServer } from "./_helpers.ts";
import { httpUrl } from "./_metrics.ts";
import { LinePeer } from "./_peer.ts";

/** The page's document, as the functions run in the browser see it (this file is type-checked without DOM). */
declare const document: {
  querySelectorAll(
    selector: string,
  ): ArrayLike<{ textContent: string | null }> & Iterable<{ textContent: string | null }>;
  getElementById(id: string): { textContent: string | null } | null;
};

const CHROMIUM = "/usr/bin/chromium";
const HAS_CHROMIUM = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
const WAIT_MS = 10_000;
const XSS = "<img src=x onerror=alert(1)>";

/** The texts of the page's message list. */
function messages(page: Page): Promise<string[]> {
  return page.$$eval("#messages li", (lis) => lis.map((li) => li.textContent ?? ""));
}

/** Waits until a line of the message list contains `text`. */
async function waitForLine(page: Page, text: string): Promise<void> {
  try {
    await page.waitForFunction(
      (t: string) => [...document.querySelectorAll("#messages li")].some((li) => li.textContent?.includes(t)),
      { timeout: WAIT_MS, polling: 50 },
      text,
    );
  } catch {
    throw new Error(
      `no line with ${JSON.stringify(text)}; the page shows:\n${(await messages(page)).join("\n")}`,
    );
  }
}

/** Waits until the "online" list is exactly `names` (in any order). */
async function waitForOnline(page: Page, names: string[]): Promise<void> {
  const want = [...names].sort().join("\n");
  try {
    await page.waitForFunction(
      (w: string) =>
        [...document.querySelectorAll("#online li")].map((li) => li.textContent).sort().join("\n") === w,
      { timeout: WAIT_MS, polling: 50 },
      want,
    );
  } catch {
    const shown = await page.$$eval("#online li", (lis) => lis.map((li) => li.textContent));
    throw new Error(`online shows ${JSON.stringify(shown)}, not ${JSON.stringify(names)}`);
  }
}

/** Waits until the status badge says `text` (e.g. "connected"). */
async function waitForStatus(page: Page, re: RegExp): Promise<void> {
  await page.waitForFunction(
    (source: string) => new RegExp(source).test(document.getElementById("status")?.textContent ?? ""),
    { timeout: WAIT_MS, polling: 50 },
    re.source,
  );
}

/** Types a line in the text box and presses Enter. */
async function say(page: Page, text: string): Promise<void> {
  await page.type("#text", text);
  await page.keyboard.press("Enter");
}

Deno.test({
  name: "browser: two Chromium pages and an nc user chat, HTML shows as text, notices show, pages reconnect" +
    (HAS_CHROMIUM ? "" : ` (ignored: ${CHROMIUM} is missing; Debian package chromium)`),
  ignore: !HAS_CHROMIUM,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    let server: TestServer | undefined = await startServer({
      mode: "chat",
      web: { hostname: "127.0.0.1", port: 0 },
      maxConns: 3,
    });
    const url = await httpUrl(server, "web");
    const webPort = Number(new URL(url).port);
    const browser: Browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--headless=new"],
    });
    let tcp: LinePeer | undefined;
    try {
      const dialogs: string[] = [];
      const open = async () => {
        const page = await browser.newPage();
        page.on("dialog", async (d) => {
          dialogs.push(d.message());
          await d.dismiss();
        });
        await page.setViewport({ width: 900, height: 520 });
        await page.goto(url);
        return page;
      };
      const alice = await open();
      await waitForLine(alice, "welcome user1");
      const bob = await open();
      await waitForLine(bob, "welcome user2");
      tcp = await LinePeer.connect(server.port);
      assert.match(await tcp.line(), /^\* welcome user3, 2 others here/);

      await say(alice, "/nick alice");
      await say(bob, "/nick bob");
      await tcp.send("/nick carol\n");
      await waitForOnline(alice, ["alice", "bob", "carol"]);
      await waitForOnline(bob, ["alice", "bob", "carol"]);

      await say(alice, "hi both, alice here in Chromium");
      assert.equal(await tcp.until(/^<alice>/), "<alice> hi both, alice here in Chromium");
      await waitForLine(bob, "hi both, alice here in Chromium");
      await tcp.send("hello from nc\n");
      await waitForLine(alice, "hello from nc");
      await waitForLine(bob, "hello from nc");
      await say(bob, "bob too, from the second page");
      assert.equal(await tcp.until(/^<bob>/), "<bob> bob too, from the second page");
      await waitForLine(alice, "bob too, from the second page");
      const named = await alice.$$eval("#messages li .name", (spans) => spans.map((s) => s.textContent));
      assert.ok(named.includes("carol") && named.includes("bob"), `names shown: ${named.join(", ")}`);

      await say(bob, "/who");
      await waitForLine(bob, "3 here: alice, bob, carol");

      // what looks like HTML is shown as those characters and never becomes an element
      await tcp.send(`${XSS}\n`);
      await waitForLine(alice, XSS);
      await say(alice, `/nick ${XSS}`);
      await waitForLine(alice, `'${XSS}' is not a name`);
      for (const page of [alice, bob]) {
        assert.equal(await page.$$eval("#messages img, #online img", (imgs) => imgs.length), 0);
      }

      // a fourth client is one too many: the page shows the server's notice instead of failing silently
      const extra = await open();
      await waitForLine(extra, "server full (3 clients), try again later");
      await waitForStatus(extra, /^disconnected: server full/);
      await extra.close();
      assert.deepEqual(dialogs, [], "no script ran from a name or a line");

      if (Deno.env.get("SOCKKIT_SCREENSHOT") === "1") {
        await say(alice, "the page reconnects by itself when the server restarts");
        await waitForLine(bob, "reconnects by itself");
        const png = await alice.screenshot({ type: "png" });
        await Deno.mkdir(new URL("../docs/", import.meta.url), { recursive: true });
        await Deno.writeFile(new URL("../docs/chat.png", import.meta.url), png);
      }

      // the server restarts: both pages say so, then join the new room by themselves
      tcp.close();
      await server.stop();
      server = undefined;
      for (const page of [alice, bob]) {
        await waitForLine(page, "server shutting down");
        await waitForStatus(page, /^disconnected|^connecting/);
      }
      server = await startServer({ mode: "chat", web: { hostname: "127.0.0.1", port: webPort } });
      for (const page of [alice, bob]) await waitForStatus(page, /^connected$/);
      let joined = 0;
      await server.waitFor((e) => e.type === "connect" && ++joined === 2);
      await waitForOnline(alice, ["user1", "user2"]);
      await say(alice, "back again");
      await waitForLine(bob, "back again");
    } finally {
      tcp?.close();
      await browser.close();
      await server?.stop();
    }
  },
});

Deno.test({
  name: "browser: /trace draws every connection's calls live, one lifeline per client beside the server's" +
    (HAS_CHROMIUM ? "" : ` (ignored: ${CHROMIUM} is missing; Debian package chromium)`),
  ignore: !HAS_CHROMIUM,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = await startServer({
      mode: "chat",
      web: { hostname: "127.0.0.1", port: 0 },
      trace: true,
      sites: true,
    });
    const url = await httpUrl(server, "web");
    const browser: Browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--headless=new"],
    });
    const peers: LinePeer[] = [];
    try {
      const dialogs: string[] = [];
      const page = await browser.newPage();
      page.on("dialog", async (d) => {
        dialogs.push(d.message());
        await d.dismiss();
      });
      await page.setViewport({ width: 1100, height: 560 });
      await page.goto(`${url}trace`);
      await waitForStatus(page, /^live$/);

      // two clients, one before the other: each gets its own lifeline, and its calls are drawn on it
      for (const [i, line] of ["hello from the first", `${XSS} from the second`].entries()) {
        const peer = await LinePeer.connect(server.port);
        peers.push(peer);
        await peer.until(new RegExp(`^\\* welcome user${i + 1}`));
        await peer.send(`${line}\n`);
      }
      const labels = peers.map((p) => `client 127.0.0.1:${(p.conn.localAddr as Deno.NetAddr).port}`);
      const lanes = () => page.$$eval("svg .peer", (ts) => ts.map((t) => t.textContent ?? ""));
      const drawn = (peer: string) =>
        page.$$eval(
          "svg g.call",
          (gs, p) =>
            gs.filter((g) => g.getAttribute("data-peer") === p).map((g) => g.getAttribute("data-call")),
          peer,
        );
      try {
        await page.waitForFunction(
          (want: string[]) => {
            const shown = [...document.querySelectorAll("svg .peer")].map((t) => t.textContent);
            return want.every((w) => shown.includes(w));
          },
          { timeout: WAIT_MS, polling: 50 },
          labels,
        );
      } catch {
        throw new Error(`lifelines ${JSON.stringify(await lanes())}, not ${JSON.stringify(labels)}`);
      }
      assert.deepEqual(await lanes(), labels, "one lifeline per client, in the order they came");
      for (const label of labels) {
        const peer = label.slice("client ".length);
        await page.waitForFunction(
          (p: string) =>
            [...document.querySelectorAll("svg g.call")].filter((g) =>
              (g as unknown as { getAttribute(n: string): string }).getAttribute("data-peer") === p
            ).length >= 3,
          { timeout: WAIT_MS, polling: 50 },
          peer,
        );
        const calls = await drawn(peer);
        assert.equal(calls[0], "accept", `${peer}: ${calls}`);
        assert.ok(calls.includes("recv") && calls.includes("send"), `${peer}: ${calls}`);
      }
      const arrows = await page.$$eval("svg line.arrow", (ls) => ls.length);
      assert.ok(arrows >= 6, `${arrows} arrows`);
      const sites = await page.$$eval("svg .site", (ts) => ts.map((t) => t.textContent ?? ""));
      assert.ok(sites.some((s) => /^lib\/server\/accept\.ts:\d+$/.test(s)), sites.join(", "));
      assert.equal(await page.$$eval("svg img, img", (imgs) => imgs.length), 0);
      assert.deepEqual(dialogs, []);

      if (Deno.env.get("SOCKKIT_SCREENSHOT") === "1") {
        const png = await page.screenshot({ type: "png", fullPage: true });
        await Deno.mkdir(new URL("../docs/", import.meta.url), { recursive: true });
        await Deno.writeFile(new URL("../docs/trace.png", import.meta.url), png);
      }
    } finally {
      peers.forEach((p) => p.close());
      await browser.close();
      await server.stop();
    }
  },
});
