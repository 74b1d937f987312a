/**
 * What a PEM certificate says about its own validity, read with @peculiar/x509: when it starts and stops
 * being valid, and the warning a server owes its operator when it serves one outside that period.
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

/** When a certificate starts and stops being valid. */
export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

/**
 * The line of the first `CERTIFICATE` block in a PEM text that is not a certificate (DER that does not
 * parse as X.509), or undefined when every one is.
 */
export function badCertificateLine(pem: string): number | undefined {
  for (const block of pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)) {
    try {
      new x509.X509Certificate(block[0]);
    } catch {
      return pem.slice(0, block.index).split("\n").length;
    }
  }
  return undefined;
}

/** The validity period of the first certificate in a PEM text. */
export function certificateValidity(certPem: string): Validity {
  const match = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(certPem);
  const cert = new x509.X509Certificate(match ? match[0] : certPem);
  return { notBefore: cert.notBefore, notAfter: cert.notAfter };
}

/**
 * The warning for serving `file` with this validity at `now`, or undefined while it is valid.
 *
 * @example
 * ```ts
 * const v = { notBefore: new Date("2020-01-01"), notAfter: new Date("2020-01-02") };
 * validityWarning("old.pem", v, new Date("2026-01-01"));
 * // "the certificate old.pem expired on 2020-01-02: clients will refuse it (renew it)"
 * ```
 */
export function validityWarning(file: string, v: Validity, now: Date = new Date()): string | undefined {
  const day = (d: Date) => d.toISOString().slice(0, 10);
  if (now > v.notAfter) {
    return `the certificate ${file} expired on ${day(v.notAfter)}: clients will refuse it (renew it)`;
  }
  if (now < v.notBefore) {
    return `the certificate ${file} is not valid before ${day(v.notBefore)}: clients will refuse it until ` +
      "then (check this machine's clock, or the certificate's dates)";
  }
}
