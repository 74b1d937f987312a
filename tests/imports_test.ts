/** The module graph has no import cycles: each module can be read, and tested, after the ones it imports. */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).href;
const ENTRY_POINTS = ["main.ts", "bench/peers.ts", "bench/stress.ts", "bench/hub.ts", "tools/compile.ts"];

interface DenoInfo {
  modules: {
    specifier: string;
    dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
  }[];
}

/** Every cycle among sockkit's own modules (type-only imports count: they tie modules together too). */
function cyclesOf(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (m: string) => {
    if (path.includes(m)) return void cycles.push([...path.slice(path.indexOf(m)), m]);
    if (done.has(m)) return;
    path.push(m);
    for (const dep of graph.get(m) ?? []) visit(dep);
    path.pop();
    done.add(m);
  };
  for (const m of graph.keys()) visit(m);
  return cycles;
}

Deno.test("imports: no module of sockkit imports itself through others (no cycles)", async () => {
  const graph = new Map<string, string[]>();
  for (const entry of ENTRY_POINTS) {
    try {
      await Deno.stat(new URL(entry, ROOT));
    } catch {
      continue;
    }
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", entry],
      cwd: new URL(ROOT),
    })
      .output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as DenoInfo;
    for (const m of info.modules) {
      if (!m.specifier.startsWith(ROOT)) continue;
      const deps = (m.dependencies ?? []).flatMap((d) => [d.code?.specifier, d.type?.specifier])
        .filter((s): s is string => s?.startsWith(ROOT) ?? false);
      graph.set(m.specifier.slice(ROOT.length), [...new Set(deps)].map((s) => s.slice(ROOT.length)));
    }
  }
  assert.ok(graph.size > 40, `the graph holds sockkit's modules (${graph.size})`);
  assert.deepEqual(cyclesOf(graph).map((c) => c.join(" -> ")), []);
});

/**
 * Every import that reaches up out of lib/: a module of lib/ may import only lib/ (and npm, node:, and
 * deno.json, the project's metadata: its version).
 */
function upwardImports(graph: Map<string, string[]>): string[] {
  return [...graph].flatMap(([m, deps]) =>
    m.startsWith("lib/")
      ? deps.filter((d) => !d.startsWith("lib/") && d !== "deno.json").map((d) => `${m} -> ${d}`)
      : []
  );
}

Deno.test("imports: nothing in lib/ imports from above it (cli/, the entry points, tests)", async () => {
  const graph = new Map<string, string[]>();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: new URL(ROOT),
  })
    .output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  for (const m of (JSON.parse(new TextDecoder().decode(out.stdout)) as DenoInfo).modules) {
    if (!m.specifier.startsWith(ROOT)) continue;
    const deps = (m.dependencies ?? []).flatMap((d) => [d.code?.specifier, d.type?.specifier])
      .filter((s): s is string => s?.startsWith(ROOT) ?? false);
    graph.set(m.specifier.slice(ROOT.length), [...new Set(deps)].map((s) => s.slice(ROOT.length)));
  }
  assert.ok([...graph.keys()].some((m) => m.startsWith("lib/server/")));
  assert.deepEqual(upwardImports(graph), []);
  // the entry points the README shows stay thin: each command's run-file lives with its folder
  for (const entry of ["server.ts", "client.ts"]) {
    const text = await Deno.readTextFile(new URL(entry, ROOT));
    const imports = [...text.matchAll(/^(?:import|export)\b.*\bfrom\s+"([^"]+)"/gm)].map((m) => m[1]);
    assert.deepEqual(imports, [`./lib/${entry.replace(".ts", "")}/run.ts`], `${entry} only re-exports`);
  }
});

Deno.test("imports: the upward-import check finds one when there is one", () => {
  const graph = new Map([["lib/a.ts", ["lib/b.ts", "server.ts"]], ["cli/x.ts", ["lib/a.ts"]]]);
  assert.deepEqual(upwardImports(graph), ["lib/a.ts -> server.ts"]);
});

Deno.test("imports: the cycle check finds a cycle when there is one", () => {
  const graph = new Map([["a.ts", ["b.ts"]], ["b.ts", ["c.ts"]], ["c.ts", ["a.ts"]], ["d.ts", ["a.ts"]]]);
  assert.deepEqual(cyclesOf(graph), [["a.ts", "b.ts", "c.ts", "a.ts"]]);
});
