import assert from "node:assert/strict";
import { ECHO_LARGE_BUFFER_SIZE, ECHO_SMALL_BUFFER_SIZE } from "../lib/modes/echo.ts";
import { writeAll } from "../lib/core/io.ts";
import { randomBytes, readExactly, sha256, startServer } from "./_helpers.ts";

Deno.test("echo: traffic that moves between the small and the large read buffer comes back identical", async () => {
  const server = await startServer();
  try {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const sizes = [
      ECHO_SMALL_BUFFER_SIZE,
      1,
      ECHO_SMALL_BUFFER_SIZE + 1,
      3 * ECHO_LARGE_BUFFER_SIZE + 17,
      5,
      ECHO_SMALL_BUFFER_SIZE,
      ECHO_LARGE_BUFFER_SIZE,
      64,
    ];
    for (const size of sizes) {
      const data = randomBytes(size);
      const [reply] = await Promise.all([readExactly(conn, size), writeAll(conn, data)]);
      assert.equal(await sha256(reply), await sha256(data), `a ${size}-byte write`);
    }
  } finally {
    await server.stop();
  }
});

Deno.test("echo: many connections switching buffers at once keep their own bytes", async () => {
  const server = await startServer();
  try {
    const one = async (i: number) => {
      using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      for (const size of [100 + i, 200_000 + i * 31, 7]) {
        const data = randomBytes(size);
        const [reply] = await Promise.all([readExactly(conn, size), writeAll(conn, data)]);
        assert.deepEqual(reply, data, `connection ${i}, ${size} bytes`);
      }
    };
    await Promise.all(Array.from({ length: 40 }, (_, i) => one(i)));
  } finally {
    await server.stop();
  }
});
