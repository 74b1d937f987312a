/**
 * TLS for servers and clients, one module per job: certificates (./certs.ts), the listener that completes
 * each handshake first (./listener.ts), the client that verifies (./connect.ts), and one-line explanations of
 * handshake failures (./errors.ts). This module gathers them for the transport (../tls.ts) and the commands.
 * @module
 */
export * from "./certs.ts";
export * from "./errors.ts";
export * from "./listener.ts";
export * from "./connect.ts";
export type { TlsSettings } from "../types.ts";
