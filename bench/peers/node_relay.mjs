// The idiomatic Node.js TCP relay: each client piped to its own connection to the target, both ways.
// Usage: node node_relay.mjs PORT TARGET_HOST TARGET_PORT
import net from "node:net";

const [port, targetHost, targetPort] = [
  Number(process.argv[2] ?? 0),
  process.argv[3],
  Number(process.argv[4]),
];
const server = net.createServer({ allowHalfOpen: true }, (client) => {
  const target = net.connect({ host: targetHost, port: targetPort, allowHalfOpen: true });
  client.setNoDelay(true);
  target.setNoDelay(true);
  client.pipe(target);
  target.pipe(client);
  const end = () => {
    client.destroy();
    target.destroy();
  };
  client.on("error", end);
  target.on("error", end);
});
server.listen(port, "127.0.0.1", () => console.log(`listening on 127.0.0.1:${server.address().port}`));
process.on("SIGTERM", () => process.exit(0));
