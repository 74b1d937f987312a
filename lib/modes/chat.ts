import { escapeBytes, escapeText, plural, textForScreen } from "../format.ts";
import { LineReader } from "../framing.ts";
import { concatBytes } from "../io.ts";
import type { Mode, ModeContext, Session } from "./mode.ts";
import { nameKey, nameProblem } from "./names.ts";
import { type Member, Room } from "./room.ts";

const encoder = new TextEncoder();
const HELP = "/nick NAME to rename, /who to list, /quit to leave";

/**
 * Chat mode, line based: every line a client sends goes to every other client as `<name> text`; joins,
 * leaves and renames are announced to all, and the server log shows the same transcript. Commands:
 * `/nick NAME`, `/who`, `/quit` (a line starting `//` is sent with one `/` removed). Clients are `user1`,
 * `user2`, … until they pick a name. Lines end in `\n`, `\r\n` or `\r`; each client is sent lines ending
 * the way its own do. Control, bidi and other invisible format characters in a line are relayed escaped
 * (textForScreen: `\x1b`, `\u202e`). A line longer than `maxLine` is refused with a notice to its sender.
 */
export function chat(ctx: ModeContext): Mode {
  let joined = 0;
  const room: Room = new Room(ctx.maxQueue, {
    onLeave: (member, reason) => announce(member, `* ${member.name} left${reason ? ` (${reason})` : ""}`),
    onShutdown: (member) => tell(member, "* server shutting down"),
  });

  /** Sends a transcript line to everyone but `except`, and logs it as coming from `from`. */
  function announce(from: Member, text: string, except?: Member): void {
    ctx.emit({ type: "chat", id: from.session.id, peer: from.session.peer, text });
    room.send(lineFor(encoder.encode(text)), except);
  }

  function tell(member: Member, text: string): void {
    room.sendTo(member, lineFor(encoder.encode(text))(member));
  }

  function nameTaken(name: string, except?: Member): boolean {
    const wanted = nameKey(name);
    for (const m of room.members) if (m !== except && nameKey(m.name) === wanted) return true;
    return false;
  }

  function defaultName(): string {
    let name: string;
    do name = `user${++joined}`; while (nameTaken(name));
    return name;
  }

  function rename(member: Member, name: string): void {
    if (!name) return tell(member, "* usage: /nick NAME");
    const problem = nameProblem(name);
    if (problem) return tell(member, `* ${problem}`);
    if (name === member.name) return tell(member, `* you are already ${name}`);
    if (nameTaken(name, member)) return tell(member, `* ${name} is taken: pick another name`);
    const old = member.name;
    member.name = name;
    announce(member, `* ${old} is now ${name}`);
  }

  function who(member: Member): void {
    const names = [...room.members].map((m) => m.name);
    tell(member, `* ${names.length} here: ${names.join(", ")}`);
  }

  /** Acts on one line; false once the member asked to leave. */
  function handleLine(member: Member, line: Uint8Array): boolean {
    if (line.length === 0) return true;
    if (line[0] === 0x2f && line[1] !== 0x2f) {
      const [command, ...args] = new TextDecoder().decode(line).trim().split(/\s+/);
      switch (command) {
        case "/nick":
          rename(member, args.join(" "));
          return true;
        case "/who":
          who(member);
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
    room.send(lineFor(encoder.encode(`<${member.name}> ${textForScreen(text)}`)), member);
    return true;
  }

  return (session: Session) =>
    room.serve(session, async (member) => {
      member.name = defaultName();
      const others = room.size - 1;
      tell(member, `* welcome ${member.name}, ${plural(others, "other")} here (${HELP})`);
      announce(member, `* ${member.name} joined`, member);
      const lines = new LineReader(session, ctx.maxLine);
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
        if (!handleLine(member, result.line)) return;
      }
    });
}

/** The bytes of a line for each member, ending the way that member's lines end (built at most twice). */
function lineFor(text: Uint8Array): (member: Member) => Uint8Array {
  const built: Partial<Record<Member["eol"], Uint8Array>> = {};
  return (member) => (built[member.eol] ??= concatBytes(text, encoder.encode(member.eol)));
}
