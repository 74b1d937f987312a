import { escapeBytes, escapeText, isUtf8, plural, textForScreen } from "../core/format.ts";
import { LineReader, MessageLines } from "../core/framing.ts";
import { concatBytes } from "../core/io.ts";
import type { Mode, ModeContext, Session } from "./mode.ts";
import { type HeldName, type Hub, hubDropper, LocalHub } from "../hub/hub.ts";
import { nameKey, nameProblem } from "./names.ts";
import { type Member, Room } from "./room.ts";

const encoder = new TextEncoder();
const HELP = "/nick NAME to rename, /who to list, /quit to leave";
/** What members are told while the other server instances of a shared room cannot be reached. */
const UNREACHABLE = "other servers unreachable";

/**
 * Chat mode, line based: every line a client sends goes to every other client as `<name> text`; joins,
 * leaves and renames are announced to all, and the server log shows the same transcript. Commands:
 * `/nick NAME`, `/who`, `/quit` (a line starting `//` is sent with one `/` removed). Clients are `user1`,
 * `user2`, … until they pick a name. Lines end in `\n`, `\r\n` or `\r`; each client is sent lines ending
 * the way its own do. Control, bidi and other invisible format characters in a line are relayed escaped
 * (textForScreen: `\x1b`, `\u202e`). A line longer than `maxLine` is refused with a notice to its sender.
 * With a hub (`--hub`) the room spans server instances: lines, joins, leaves and renames are published to
 * the others and theirs delivered here; names are claimed through the hub, and `/who` lists every instance.
 * A WebSocket member sends one line per message and is sent one text message per line, with no line ending.
 */
export function chat(ctx: ModeContext): Mode {
  const hub: Hub = ctx.hub ?? new LocalHub();
  /** Name keys being claimed from the hub right now, so that no two local members can get the same. */
  const claiming = new Set<string>();
  const room: Room = new Room(ctx.maxQueue, {
    onSize: (size) => hub.members?.(size),
    onLeave: (member, reason) => {
      if (!member.name) return;
      announce(member, `* ${member.name} left${reason ? ` (${reason})` : ""}`);
      hub.release(nameKey(member.name));
    },
    onShutdown: (member) => {
      tell(member, "* server shutting down");
      if (!member.name) return;
      hub.publish(encoder.encode(`* ${member.name} left (server shutting down)`), true);
      hub.release(nameKey(member.name));
    },
  }, ctx.counters);
  const drop = hubDropper(ctx.emit, ctx.counters);
  /** The name keys of this server's members, on every event loop (no other instance may speak for them). */
  const localKeys = () => {
    const keys = new Set(hub.heldHere);
    for (const m of room.members) if (m.name) keys.add(nameKey(m.name));
    return keys;
  };
  hub.listen({
    // Anyone who can publish on the hub's channel can write anything there: a line is passed on only in a
    // shape this server would publish itself, screen-safe as its own members' lines are made here.
    message: (text, instance, via) => {
      // another event loop's line is one of this server's own; another instance's is checked by each loop
      // it reaches, against the names held on every loop, and the loop that logs it counts and says a drop
      const problem = via === "loop" ? undefined : hubLineProblem(text, localKeys());
      if (problem) return via ? undefined : drop(problem);
      if (!via) {
        ctx.emit({ type: "chat", id: 0, peer: `instance ${instance}`, text: new TextDecoder().decode(text) });
      }
      room.send(lineFor(text));
    },
    dropped: drop,
    down: () => {
      for (const member of room.members) {
        tell(member, `* ${UNREACHABLE}: only this server's members hear you`);
      }
    },
    up: () => {
      for (const member of room.members) tell(member, "* other servers reachable again");
    },
  });

  /** Sends a transcript line to everyone but `except` (and to the other instances), logged as from `from`. */
  function announce(from: Member, text: string, except?: Member): void {
    ctx.emit({ type: "chat", id: from.session.id, peer: from.session.peer, text });
    const bytes = encoder.encode(text);
    room.send(lineFor(bytes), except);
    hub.publish(bytes);
  }

  function tell(member: Member, text: string): void {
    room.sendTo(member, lineFor(encoder.encode(text))(member));
  }

  function nameTaken(name: string, except?: Member): boolean {
    const wanted = nameKey(name);
    if (claiming.has(wanted)) return true;
    for (const m of room.members) if (m !== except && nameKey(m.name) === wanted) return true;
    return false;
  }

  /** Claims `name` for `member` here and on the other instances; false when someone else has it. */
  async function claim(name: string, member: Member): Promise<boolean> {
    if (nameTaken(name, member)) return false;
    const key = nameKey(name);
    claiming.add(key);
    try {
      return await hub.claim({ key, name, since: member.session.id });
    } finally {
      claiming.delete(key);
    }
  }

  async function defaultName(member: Member): Promise<string> {
    for (;;) {
      const name = `user${await hub.nextNumber()}`;
      if (await claim(name, member)) return name;
    }
  }

  async function rename(member: Member, name: string): Promise<void> {
    if (!name) return tell(member, "* usage: /nick NAME");
    const problem = nameProblem(name);
    if (problem) return tell(member, `* ${problem}`);
    if (name === member.name) return tell(member, `* you are already ${name}`);
    if (!await claim(name, member)) return tell(member, `* ${name} is taken: pick another name`);
    const old = member.name;
    if (!room.has(member)) return hub.release(nameKey(name));
    member.name = name;
    if (nameKey(old) !== nameKey(name)) hub.release(nameKey(old));
    announce(member, `* ${old} is now ${name}`);
  }

  /** Everyone in the room, this instance's members first (in the order they joined); undefined: unreachable. */
  async function everyone(): Promise<{ names: string[]; unreachable: boolean }> {
    if (hub.roomNames) {
      // the other event loops' members are this server's; the other instances' names are checked as below
      const { here, elsewhere, unreachable } = await hub.roomNames();
      return { names: [...here, ...validNames(elsewhere, new Set(here.map(nameKey)))], unreachable };
    }
    const here = [...room.members].map((m) => m.name).filter((name) => name !== "");
    const elsewhere = await hub.remoteNames();
    return { names: [...here, ...validNames(elsewhere ?? [])], unreachable: elsewhere === undefined };
  }

  /** The names other instances hold that could be names here, each once and none of this server's. */
  function validNames(held: HeldName[], seen = localKeys()): string[] {
    const names: string[] = [];
    for (const { key, name } of held) {
      const problem = nameProblem(name) ??
        (key !== nameKey(name) ? `'${name}' is held under another name's key` : undefined) ??
        (seen.has(key) ? `'${name}' is a name already listed` : undefined);
      if (problem) drop(`a name in /who: ${problem}`);
      else {
        seen.add(key);
        names.push(name);
      }
    }
    return names;
  }

  async function who(member: Member): Promise<void> {
    const { names, unreachable } = await everyone();
    tell(member, `* ${names.length} here: ${names.join(", ")}${unreachable ? ` (${UNREACHABLE})` : ""}`);
  }

  /** Acts on one line; false once the member asked to leave. */
  async function handleLine(member: Member, line: Uint8Array): Promise<boolean> {
    if (line.length === 0) return true;
    if (line[0] === 0x2f && line[1] !== 0x2f) {
      const [command, ...args] = new TextDecoder().decode(line).trim().split(/\s+/);
      switch (command) {
        case "/nick":
          await rename(member, args.join(" "));
          return true;
        case "/who":
          await who(member);
          return true;
        case "/quit":
          tell(member, "* bye");
          room.leave(member);
          return false;
        default:
          tell(member, `* unknown command ${escapeText(command)}: ${HELP}`);
          return true;
      }
    }
    const text = line[0] === 0x2f ? line.subarray(1) : line;
    ctx.emit({
      type: "chat",
      id: member.session.id,
      peer: member.session.peer,
      text: `<${member.name}> ${escapeBytes(text)}`,
    });
    // what a terminal would obey (cursor moves, a cleared line, a title) or hide (bidi, zero-width) is relayed
    // as a visible escape, so no member can draw over the prefix or pass a line off as someone else's
    const bytes = encoder.encode(`<${member.name}> ${textForScreen(text)}`);
    room.send(lineFor(bytes), member);
    hub.publish(bytes);
    return true;
  }

  return (session: Session) =>
    room.serve(session, async (member) => {
      member.hearing = false;
      const name = await defaultName(member);
      if (!room.has(member)) return hub.release(nameKey(name));
      member.name = name;
      const { names, unreachable } = await everyone();
      const others = names.length - 1;
      tell(
        member,
        `* welcome ${member.name}, ${plural(others, "other")} here (${HELP})${
          unreachable ? ` (${UNREACHABLE})` : ""
        }`,
      );
      member.hearing = true;
      announce(member, `* ${member.name} joined`, member);
      // over WebSocket one message is one line, and each line sent is one text message (no line ending)
      const lines = session.readMessage
        ? new MessageLines({ readMessage: () => session.readMessage!() }, ctx.maxLine)
        : new LineReader(session, ctx.maxLine);
      while (!session.stopping) {
        const result = await lines.next();
        if (result === null) return;
        if (result.kind === "tooLong") {
          tell(member, `* line too long (over ${result.maxLine} bytes): not sent`);
          ctx.emit({
            type: "note",
            id: session.id,
            peer: session.peer,
            text: `line over ${result.maxLine} bytes refused (--max-line)`,
          });
          continue;
        }
        if (result.eol) member.eol = result.eol === "\n" ? "\n" : "\r\n";
        if (!await handleLine(member, result.line)) return;
      }
    });
}

/** The lines an instance publishes: a member's line, a join, a leave (with its reason), a rename. */
const HUB_LINES: { re: RegExp; names: number[] }[] = [
  { re: /^<([^>]*)> /, names: [1] },
  { re: /^\* (\S+) joined$/, names: [1] },
  { re: /^\* (\S+) left(?: \(.*\))?$/s, names: [1] },
  { re: /^\* (\S+) is now (\S+)$/, names: [1, 2] },
];

/**
 * Why a line another instance published through the hub is not passed on, or undefined: it must be one
 * line of screen-safe text (what `textForScreen` leaves as it is), in a shape an instance publishes, with
 * valid names, none of them one of this server's members (`localKeys`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const line = (text: string) => new TextEncoder().encode(text);
 * assert.equal(hubLineProblem(line("<bob> hi"), new Set()), undefined);
 * assert.match(hubLineProblem(line("<bob> hi\n<alice> forged"), new Set())!, /not one line of screen-safe text/);
 * assert.match(hubLineProblem(line("<alice> hi"), new Set(["alice"]))!, /in the name of alice, a member here/);
 * ```
 */
export function hubLineProblem(text: Uint8Array, localKeys: ReadonlySet<string>): string | undefined {
  if (!isUtf8(text)) return "not UTF-8";
  const line = new TextDecoder().decode(text);
  if (textForScreen(text) !== line) {
    return `not one line of screen-safe text: '${textForScreen(text).slice(0, 80)}'`;
  }
  const shape = HUB_LINES.map(({ re, names }) => ({ match: re.exec(line), names })).find((s) => s.match);
  if (!shape) return `not a line an instance sends: '${line.slice(0, 80)}'`;
  for (const i of shape.names) {
    const name = shape.match![i];
    const problem = nameProblem(name);
    if (problem) return problem;
    if (localKeys.has(nameKey(name))) return `a line in the name of ${name}, a member here`;
  }
  return undefined;
}

/** The bytes of a line for each member, ending the way that member's lines end (built at most twice). */
function lineFor(text: Uint8Array): (member: Member) => Uint8Array {
  const built: Partial<Record<Member["eol"], Uint8Array>> = {};
  return (member) => (built[member.eol] ??= concatBytes(text, encoder.encode(member.eol)));
}
