/**
 * Gives npm code an empty `process.env`. sockkit runs without `--allow-env`, and node-redis reads two debug
 * switches (`REDIS_DEBUG_MAINTENANCE`, `REDIS_EMIT_DIAGNOSTICS`) from `process.env` on every connection:
 * under Deno that read throws NotCapable, so the client never connects. With an empty environment the
 * switches are simply off, and the process still cannot read the real environment. Imported (for its
 * effect) before the Redis client.
 * @module
 */
import process from "node:process";

Object.defineProperty(process, "env", { value: {}, configurable: true, writable: true, enumerable: true });
