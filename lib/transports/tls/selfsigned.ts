/**
 * Ephemeral self-signed certificates for `sockkit server --tls` without `--cert`, built with @peculiar/x509
 * on WebCrypto (ECDSA P-256). Loaded only when a server needs one.
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

/** A certificate and its private key, both PEM. */
export interface GeneratedCertificate {
  certPem: string;
  keyPem: string;
  notAfter: Date;
}

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const HOUR_MS = 3_600_000;

function isIpAddress(name: string): boolean {
  return name.includes(":") || /^\d{1,3}(\.\d{1,3}){3}$/.test(name);
}

function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Generates a new key pair and a self-signed server certificate for `names` (host names and IP addresses,
 * the first one also its common name), valid from an hour ago for `validDays`.
 *
 * @example
 * ```ts
 * const { certPem, keyPem } = await generateSelfSigned(["localhost", "127.0.0.1", "::1"]);
 * Deno.listenTls({ port: 0, cert: certPem, key: keyPem });
 * ```
 */
export async function generateSelfSigned(names: string[], validDays = 365): Promise<GeneratedCertificate> {
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const now = Date.now();
  const notAfter = new Date(now + validDays * 24 * HOUR_MS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [names[0]] }, { O: ["sockkit ephemeral"] }],
    notBefore: new Date(now - HOUR_MS),
    notAfter,
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        names.map((value): x509.JsonGeneralName => ({ type: isIpAddress(value) ? "ip" : "dns", value })),
      ),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    certPem: cert.toString("pem") + "\n",
    keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY") + "\n",
    notAfter,
  };
}
