/**
 * Runs the sample sessions of README.md and docs/*.md and compares what the program prints with what the page
 * shows. A sample that appears word for word on two pages (the README repeats some of docs/) runs once.
 *
 * A sample is a fenced block right after a `<!-- sample … -->` comment. Its `$ ` lines are commands, each
 * followed by the output it prints (stdout and stderr together, in order). Inside the comment:
 *
 * - `server: CMD` starts CMD in the background first (its output is not compared), and waits until it listens;
 * - `background: CMD` starts CMD in the background without waiting, and `await: REGEX` waits until the
 *   output of one of the background commands matches;
 * - a block whose first command is `sockkit server …` and which shows `^C` is a server log: the server runs,
 *   the comment's `then: CMD` lines run one after another (one ending in `&` is started in the background),
 *   `await: REGEX` lines between them wait for the log to match, then Ctrl-C, and the whole log is compared;
 * - a command ending in `&` is started like a `server:` (its output is not compared);
 * - `numbers` ignores every number in the block, the length of histogram bars (load figures), and the spaces
 *   that right-align a number in a column (the µs of `sockkit demo`).
 *
 * Ports are swapped for free ones (a server's `1234`, or `openssl s_server -accept 4436`, becomes `0`, and
 * later commands get the port it got; a server on every interface is run on 127.0.0.1),
 * `/tmp/` for a temporary folder, and times, ports, timestamps and fingerprints are ignored in the comparison.
 *
 * Blocks without the comment are not replayed: sessions typed in several terminals at once (chat, broadcast),
 * what needs a machine's own setup (a link-local address, a server killed with `kill -9`), and the outputs of
 * the development tasks (`deno task stress`, `deno task compile`, `bench:peers`), which their own tests cover.
 * @module
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname;
/** The pages whose samples run: the README and every page of docs/. */
const PAGES: string[] = [
  "README.md",
  ...[...Deno.readDirSync(`${ROOT}docs`)].filter((e) => e.name.endsWith(".md")).map((e) => `docs/${e.name}`)
    .sort(),
];
const decoder = new TextDecoder();
const DEBUG = Deno.env.get("SAMPLES_DEBUG");

/** One sample: its README line, the comment's directives, and the commands with the output each shows. */
interface Sample {
  /** The page and line it is on, and its text (the comment and the block), which identifies it. */
  page: string;
  line: number;
  text: string;
  servers: string[];
  background: string[];
  /** In a server log: the `then:` and `await:` lines, in order. */
  script: { key: "then" | "await"; value: string }[];
  numbers: boolean;
  steps: { command: string; expected: string[] }[];
}

function parseSamples(readme: string, page = "README.md"): Sample[] {
  const samples: Sample[] = [];
  for (const m of readme.matchAll(/<!-- sample([\s\S]*?)-->\s*\n( *)```[^\n]*\n([\s\S]*?)\n *```/g)) {
    const directives = m[1].split("\n").map((l) => l.trim());
    const indent = m[2];
    const value = (key: string) =>
      directives.filter((l) => l.startsWith(`${key}:`)).map((l) => l.slice(key.length + 1).trim());
    const steps: Sample["steps"] = [];
    for (const line of m[3].split("\n")) {
      const text = line.startsWith(indent) ? line.slice(indent.length) : line;
      if (text.startsWith("$ ")) steps.push({ command: text.slice(2).replace(/\s+# .*$/, ""), expected: [] });
      else steps.at(-1)?.expected.push(text);
    }
    samples.push({
      page,
      line: readme.slice(0, m.index).split("\n").length + 1,
      text: m[0].split("\n").map((l) => l.trim()).join("\n"),
      servers: value("server"),
      background: value("background"),
      script: directives.flatMap((l) => {
        const m = /^(then|await):(.*)$/.exec(l);
        return m ? [{ key: m[1] as "then" | "await", value: m[2].trim() }] : [];
      }),
      numbers: directives.includes("numbers"),
      steps,
    });
  }
  return samples;
}

/** What may differ between two runs of the same command: times, ports, timestamps, fingerprints. */
function normalize(text: string, numbers: boolean): string {
  let t = text
    .replace(/\b([0-9A-F]{2}:){31}[0-9A-F]{2}\b/g, "<fingerprint>")
    .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, "<time>")
    .replace(/"(\w+Ms|min|avg|max|mdev)":[\d.e+-]+/g, '"$1":<t>')
    .replace(/= [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ ms/g, "= <rtt>")
    .replace(/\b\d+(\.\d+)? ?(ms|µs|s|min)\b/g, "<t>")
    .replace(/([\w\]]):\d{2,5}\b/g, "$1:<port>")
    .replace(/valid until \d{4}-\d\d-\d\d/g, "valid until <date>")
    .replace(/\/tmp\/sockkit-sample-\w+\//g, "/tmp/")
    .replace(/^Listening on 0\.0\.0\.0:/m, "Listening on 127.0.0.1:");
  if (numbers) t = t.replace(/\d[\d,]*(\.\d+)?(e[+-]?\d+)?/g, "N").replace(/█+/g, "█").replace(/ +N/g, " N");
  return t.trimEnd();
}

/** A command line as sh runs it from the clone: `sockkit` is the launcher, and the sample's ports and paths. */
function prepare(command: string, ports: Map<string, string>, tmp: string): string {
  let c = command.replace(/(^|[|;&(]\s*)sockkit\b/g, "$1./sockkit").replaceAll("/tmp/", `${tmp}/`);
  for (const [from, to] of ports) c = c.replace(new RegExp(`\\b${from}\\b`, "g"), to);
  return c;
}

/**
 * `sockkit server 1234 …` (or `server`/`relay ws://127.0.0.1:8080/`) with the port made 0, and the port it
 * replaced; a server the sample runs on every
 * interface (no `--host`) listens on 127.0.0.1 instead, and its log is compared as if it were 0.0.0.0.
 */
function freePort(command: string): { command: string; port?: string } {
  const accept = /^openssl s_server .*-accept (\d+)\b/.exec(command);
  if (accept) return { command: command.replace(/-accept \d+\b/, "-accept 0"), port: accept[1] };
  const ws = /\b(?:server|relay) wss?:\/\/127\.0\.0\.1:(\d+)\//.exec(command);
  if (ws) return { command: command.replace(`127.0.0.1:${ws[1]}/`, "127.0.0.1:0/"), port: ws[1] };
  const m = /\bserver (\d+)\b/.exec(command);
  if (!m) return { command };
  const local = /--host|--unix/.test(command) ? "" : " --host 127.0.0.1";
  return { command: command.replace(/\bserver \d+\b/, `server 0${local}`), port: m[1] };
}

function shell(command: string, tmp: string) {
  const dir = Deno.execPath().replace(/\/[^/]+$/, "");
  return new Deno.Command("bash", {
    args: ["-c", `exec 2>&1; ${command}`],
    cwd: ROOT,
    env: { PATH: `${dir}:${Deno.env.get("PATH")}`, TMPDIR: tmp },
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  });
}

/** A background command whose output is collected, and the port it printed once listening. */
function background(command: string, tmp: string) {
  if (DEBUG) console.error("background:", command);
  const child = shell(`exec ${command}`, tmp).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let ended = false;
  const waiters: (() => void)[] = [];
  const reading = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      waiters.splice(0).forEach((w) => w());
    }
    ended = true;
    waiters.splice(0).forEach((w) => w());
  })();
  /** Resolves with the first match of `re` in the output so far or to come. */
  const waitFor = async (re: RegExp): Promise<RegExpExecArray> => {
    const start = Date.now();
    for (;;) {
      const m = re.exec(text);
      if (m) return m;
      if (ended) throw new Error(`'${command}' ended before printing ${re}:\n${text}`);
      if (Date.now() - start > STEP_TIMEOUT_MS) {
        throw new Error(`'${command}' did not print ${re} within ${STEP_TIMEOUT_MS} ms:\n${text}`);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        waiters.push(r);
        timer = setTimeout(r, 1000);
      });
      clearTimeout(timer);
    }
  };
  const listening = waitFor(/(?:Listening on |"address":"|^ACCEPT )\S*:(\d+)|Listening on unix:/m).then((m) =>
    m[1]
  );
  listening.catch(() => {});
  return {
    listening,
    waitFor,
    async stop(): Promise<string> {
      try {
        await listening;
      } finally {
        // SIGINT goes to the server itself: bash exec'd the launcher, which exec'd Deno.
        try {
          child.kill("SIGINT");
        } catch { /* already gone */ }
      }
      const killed = deadline(child, STEP_TIMEOUT_MS);
      await reading;
      if (await killed) {
        throw new Error(`'${command}' did not stop on Ctrl-C within ${STEP_TIMEOUT_MS} ms:\n${text}`);
      }
      return text;
    },
  };
}

/** How long one sample command may run before it is killed and the sample fails. */
const STEP_TIMEOUT_MS = 20_000;

/** Kills `child` if it has not ended by the deadline; resolves to whether it had to. */
function deadline(child: Deno.ChildProcess, ms: number, signal: Deno.Signal = "SIGKILL") {
  let fired = false;
  const timer = setTimeout(() => {
    fired = true;
    try {
      child.kill(signal);
    } catch { /* already gone */ }
  }, ms);
  return child.status.then(() => {
    clearTimeout(timer);
    return fired;
  });
}

async function runStep(command: string, tmp: string): Promise<string> {
  if (DEBUG) console.error("step:", command);
  const child = shell(command, tmp).spawn();
  const killed = deadline(child, STEP_TIMEOUT_MS);
  const out = await child.output();
  const text = decoder.decode(out.stdout);
  if (await killed) throw new Error(`'${command}' was still running after ${STEP_TIMEOUT_MS} ms:\n${text}`);
  return text;
}

function compare(actual: string, expected: string[], numbers: boolean, where: string) {
  assert.equal(normalize(actual, numbers), normalize(expected.join("\n"), numbers), where);
}

/** The peer commands samples use that this machine lacks (`.ci/run` installs them). */
function missingPeers(sample: Sample): string[] {
  const text = [...sample.servers, ...sample.background, ...sample.script.map((d) => d.value)]
    .concat(sample.steps.map((s) => s.command)).join("\n");
  return ["nc", "openssl"].filter((peer) =>
    new RegExp(`(^|[|;(]\\s*)${peer}\\b`, "m").test(text) &&
    !new Deno.Command("sh", { args: ["-c", `command -v ${peer}`], stdout: "null", stderr: "null" })
      .outputSync()
      .success
  );
}

/** Every page's samples, each distinct one once (the first page that shows it). */
function allSamples(): Sample[] {
  const seen = new Set<string>();
  return PAGES.flatMap((page) => parseSamples(Deno.readTextFileSync(`${ROOT}${page}`), page))
    .filter((s) => !seen.has(s.text) && seen.add(s.text));
}

for (const sample of allSamples()) {
  const first = sample.steps[0]?.command ?? "";
  const missing = missingPeers(sample);
  const ignored = missing.length ? ` (ignored: ${missing.join(", ")} not installed)` : "";
  Deno.test(
    { name: `readme sample (${sample.page}:${sample.line}): $ ${first}${ignored}`, ignore: !!ignored },
    async () => {
      const tmp = await Deno.makeTempDir({ prefix: "sockkit-sample-" });
      const ports = new Map<string, string>();
      const servers: ReturnType<typeof background>[] = [];
      try {
        for (const command of sample.servers) {
          const { command: cmd, port } = freePort(command);
          const server = background(prepare(cmd, ports, tmp), tmp);
          servers.push(server);
          const actual = await server.listening;
          if (port && actual) ports.set(port, actual);
        }
        for (const command of sample.background) {
          servers.push(background(prepare(command, ports, tmp), tmp));
        }
        const isLog = /^sockkit server\b/.test(first) && sample.steps[0].expected.includes("^C");
        const awaits = isLog ? [] : sample.script.filter((d) => d.key === "await").map((d) => d.value);
        for (const text of awaits) await Promise.any(servers.map((s) => s.waitFor(new RegExp(text))));
        if (isLog) {
          const { command: cmd, port } = freePort(first);
          const server = background(prepare(cmd, ports, tmp), tmp);
          const actual = await server.listening;
          if (port && actual) ports.set(port, actual);
          for (const { key, value } of sample.script) {
            if (key === "await") await server.waitFor(new RegExp(value));
            else if (value.endsWith("&")) {
              servers.push(background(prepare(value.slice(0, -1), ports, tmp), tmp));
            } else await runStep(prepare(value, ports, tmp), tmp);
          }
          // Ctrl-C once the server has said what the sample shows before it (a client that just exited may
          // not be logged as gone yet): at most STEP_TIMEOUT_MS, then compare whatever was said
          const before = sample.steps[0].expected.indexOf("^C");
          await server.waitFor(new RegExp(`^(?:[^\\n]*\\n){${before}}`)).catch(() => {});
          const log = await server.stop();
          const expected = sample.steps[0].expected.filter((l) => l !== "^C");
          compare(log, expected, sample.numbers, `the server log of '${first}'`);
          return;
        }
        for (const step of sample.steps) {
          if (step.command.endsWith("&")) {
            const { command: cmd, port } = freePort(step.command.slice(0, -1));
            const server = background(prepare(cmd, ports, tmp), tmp);
            servers.push(server);
            const actual = await server.listening;
            if (port && actual) ports.set(port, actual);
            continue;
          }
          const actual = await runStep(prepare(step.command, ports, tmp), tmp);
          compare(actual, step.expected, sample.numbers, `the output of '${step.command}'`);
        }
      } finally {
        for (const server of servers) await server.stop().catch(() => "");
        await Deno.remove(tmp, { recursive: true });
      }
    },
  );
}

Deno.test("readme samples: the README and docs/ mark their runnable samples", () => {
  assert.ok(
    parseSamples(Deno.readTextFileSync(`${ROOT}README.md`)).length >= 10,
    "README.md marks its samples",
  );
  assert.ok(allSamples().length >= 50, "docs/ keeps the samples that moved out of the README");
  for (const page of PAGES.filter((p) => p.startsWith("docs/"))) {
    const text = Deno.readTextFileSync(`${ROOT}${page}`);
    const marked = (text.match(/^ *<!-- sample/gm) ?? []).length;
    assert.equal(
      parseSamples(text, page).length,
      marked,
      `${page}: every <!-- sample --> is followed by a block`,
    );
  }
});
