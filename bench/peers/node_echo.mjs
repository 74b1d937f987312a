// The idiomatic Node.js echo server: every connection piped back into itself.
// Usage: node node_echo.mjs PORT [HOST]
import net from "node:net";

const port = Number(process.argv[2] ?? 1234);
const host = process.argv[3] ?? "127.0.0.1";

const server = net.createServer((socket) => {
  socket.on("error", () => {});
  socket.pipe(socket);
});
server.listen(port, host, () => console.log(`listening on ${host}:${server.address().port}`));
process.on("SIGTERM", () => process.exit(0));
