/**
 * TLS certificates: a server's from its `--cert`/`--key` files or generated at start-up (and written with
 * `--write-cert`), PEM files read with a clear error, and fingerprints as openssl prints them.
 * @module
 */
import { SockkitError, UsageError } from "../../core/errors.ts";
import type { ServerEvent } from "../../report/events.ts";
import type { TlsSettings } from "../types.ts";

/** Reads a PEM file given with `flag`, checking it holds a `label` block (`CERTIFICATE`, `PRIVATE KEY`). */
export async function readPem(path: string, flag: string, label: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    const reason = fileErrorReason(err, "no such file", "--allow-read");
    throw new SockkitError(`cannot read ${flag} ${path}: ${reason}`, undefined, { cause: err });
  }
  if (!new RegExp(`-----BEGIN [A-Z ]*${label}-----`).test(text)) {
    throw new SockkitError(
      `${flag} ${path} is not a PEM ${label.toLowerCase()} (no '-----BEGIN …${label}-----' line)`,
    );
  }
  for (const block of text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g)) {
    const body = block[2].split("\n").filter((line) => !/^[\w-]+: /.test(line)).join("").replace(/\s+/g, "");
    try {
      atob(body);
    } catch {
      const line = text.slice(0, block.index).split("\n").length;
      throw new SockkitError(
        `${flag} ${path} is not valid PEM: the ${block[1]} block at line ${line} is not base64 ` +
          "(the file is damaged: export it again)",
      );
    }
  }
  if (label === "CERTIFICATE" && !text.includes("-----BEGIN CERTIFICATE-----")) {
    // `BEGIN TRUSTED CERTIFICATE` (OpenSSL's -trustout) passes the check above, but no TLS stack reads it.
    const other = /-----BEGIN ([A-Z ]*CERTIFICATE)-----/.exec(text)?.[1];
    throw new SockkitError(
      `${flag} ${path} holds a '${other}' block, not a plain 'CERTIFICATE' one: convert it with ` +
        `'openssl x509 -in ${path} -out cert.pem' and give cert.pem`,
    );
  }
  if (label === "CERTIFICATE") {
    const { badCertificateLine } = await import("./certinfo.ts");
    const line = badCertificateLine(text);
    if (line !== undefined) {
      throw new SockkitError(
        `${flag} ${path} is not valid PEM: the CERTIFICATE block at line ${line} does not hold an X.509 ` +
          "certificate (the file is damaged, or is something else: export the certificate again)",
      );
    }
  }
  return text;
}

/** The SHA-256 fingerprint of the first certificate in a PEM text, as openssl prints it: `AB:CD:…`. */
export async function certificateFingerprint(certPem: string): Promise<string> {
  const match = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(certPem);
  if (!match) throw new SockkitError("no certificate found in the PEM text");
  const der = Uint8Array.from(atob(match[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

/** The names an ephemeral certificate is made for: loopback always, plus the host bound when specific. */
export function ephemeralNames(hostname: string): string[] {
  const names = ["localhost", "127.0.0.1", "::1"];
  const host = hostname.replace(/%.*$/, "");
  if (host !== "0.0.0.0" && host !== "::" && !names.includes(host)) names.unshift(host);
  return names;
}

/** A server's certificate and key (PEM) and the event that reports it. */
export interface ServerCertificate {
  cert: string;
  key: string;
  event: Extract<ServerEvent, { type: "certificate" }>;
}

async function loadServerCertificate(s: TlsSettings): Promise<ServerCertificate> {
  if (!s.certFile || !s.keyFile) throw new UsageError("--cert and --key go together: give both, or neither");
  const cert = await readPem(s.certFile, "--cert", "CERTIFICATE");
  const key = await readPem(s.keyFile, "--key", "PRIVATE KEY");
  const fingerprint = await certificateFingerprint(cert);
  return { cert, key, event: { type: "certificate", fingerprint, ephemeral: false, file: s.certFile } };
}

async function generateServerCertificate(hostname: string): Promise<ServerCertificate> {
  const { generateSelfSigned } = await import("./selfsigned.ts");
  const names = ephemeralNames(hostname);
  const generated = await generateSelfSigned(names);
  const fingerprint = await certificateFingerprint(generated.certPem);
  return {
    cert: generated.certPem,
    key: generated.keyPem,
    event: {
      type: "certificate",
      fingerprint,
      ephemeral: true,
      names,
      notAfter: generated.notAfter.toISOString(),
    },
  };
}

/** Why a certificate file could not be read or written, in words. */
function fileErrorReason(err: unknown, notFound: string, permissionFlag: string): string {
  if (err instanceof Deno.errors.NotFound) return notFound;
  if (err instanceof Deno.errors.NotCapable) return `not allowed (run with ${permissionFlag})`;
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  return err instanceof Error ? err.message : String(err);
}

/** The certificate for `--cert`/`--key`, or an ephemeral one for `hostname` (for servers other than tls://). */
export function serverCertificate(s: TlsSettings, hostname: string): Promise<ServerCertificate> {
  return s.certFile || s.keyFile ? loadServerCertificate(s) : generateServerCertificate(hostname);
}

/** Writes a generated certificate for `--write-cert`; a failure is one line naming the file. */
export async function writeCertificate(path: string, pem: string): Promise<void> {
  try {
    await Deno.writeTextFile(path, pem);
  } catch (err) {
    const reason = fileErrorReason(err, "no such directory", "--allow-write");
    throw new SockkitError(`cannot write --write-cert ${path}: ${reason}`, undefined, { cause: err });
  }
}
