// The idiomatic Node.js broadcast server: every chunk one client sends is written to every other client.
// A client more than 1 MiB behind is dropped, like sockkit's --max-queue default. Usage: node node_broadcast.mjs PORT [HOST]
import net from "node:net";

const port = Number(process.argv[2] ?? 1234);
const host = process.argv[3] ?? "127.0.0.1";
const MAX_QUEUE = 1024 * 1024;
const clients = new Set();

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  clients.add(socket);
  socket.on("data", (chunk) => {
    for (const other of clients) {
      if (other === socket) continue;
      if (other.writableLength > MAX_QUEUE) other.destroy();
      else other.write(chunk);
    }
  });
  socket.on("error", () => {});
  socket.on("close", () => clients.delete(socket));
});
server.listen(port, host, () => console.log(`listening on ${host}:${server.address().port}`));
process.on("SIGTERM", () => process.exit(0));
