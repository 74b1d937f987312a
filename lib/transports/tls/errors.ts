/**
 * TLS handshake failures in one line that says what to do, for the server's log and the client's error, and
 * how a TLS record looks to a plain-TCP peer.
 * @module
 */

/** Why a client's handshake with this server failed, in words, from the error Deno raised. */
export function explainServerHandshakeError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const alert = /fatal alert: (\w+)/.exec(message)?.[1];
  if (alert === "UnknownCA") return "the client does not trust this certificate (unknown CA)";
  if (alert === "CertificateExpired") return "the client says this certificate has expired";
  if (alert === "BadCertificate" || alert === "CertificateUnknown") {
    return "the client rejected this certificate (bad certificate: is it for the name the client used?)";
  }
  if (alert) return `the client aborted the handshake (alert ${alert})`;
  if (/corrupt message|InvalidContentType|invalid message|HTTP request/i.test(message)) {
    return "not a TLS client (it sent plain data)";
  }
  if (/doesn't support any known protocol|NoApplicationProtocol/i.test(message)) {
    return "no ALPN protocol in common with the client (see --alpn)";
  }
  if (/incompatible|NoCipherSuitesInCommon|protocol version/i.test(message)) {
    return "no TLS version or cipher suite in common with the client";
  }
  if (err instanceof Deno.errors.UnexpectedEof || /eof|close_notify/i.test(message)) {
    return "the client closed the connection during the handshake";
  }
  if (err instanceof Deno.errors.ConnectionReset) return "connection reset during the handshake";
  return message;
}

function unixDate(seconds: string): string {
  return new Date(Number(seconds) * 1000).toISOString().slice(0, 10);
}

function certificateNames(list: string): string {
  return list.split(/, | or /)
    .map((n) => n.replace(/^\w+\("?|"?\)$/g, "").replace(/^0::/, "::"))
    .join(", ");
}

/**
 * Why this client's handshake failed, with what to do about it, from the error Deno raised: the reason
 * names the case (unknown CA, expired, wrong host name, not a TLS server, client certificate required).
 */
export function explainClientHandshakeError(err: unknown, serverName: string): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/CaUsedAsEndEntity/.test(message)) {
    return "the server's certificate is marked as a CA (as 'openssl req -x509' makes them by default), and " +
      "Deno's TLS refuses a CA certificate as a server's own: make it with " +
      "-addext basicConstraints=critical,CA:FALSE, or trust it by its fingerprint with --pin FINGERPRINT";
  }
  if (/UnknownIssuer/.test(message)) {
    return "the server's certificate is signed by an unknown CA (not trusted: add the CA, or the server's " +
      "own certificate, with --ca FILE, or pin it with --pin FINGERPRINT; if --ca holds its CA, the server " +
      "is not sending the intermediate certificate between them: its --cert file needs the whole chain)";
  }
  if (/extended key usage for server authentication/i.test(message)) {
    return "the server's certificate is not for TLS servers (its extended key usage does not include " +
      "serverAuth): the server needs a certificate made for serving, or trust this one with --pin FINGERPRINT";
  }
  const expired = /certificate expired.*not valid after (\d+)/.exec(message);
  if (expired || /\bExpired\b/.test(message)) {
    const when = expired ? ` on ${unixDate(expired[1])}` : "";
    return `the server's certificate has expired${when} (the server must renew it)`;
  }
  const notYet = /not valid yet.*not valid before (\d+)/.exec(message);
  if (notYet || /NotValidYet/.test(message)) {
    const when = notYet ? ` (from ${unixDate(notYet[1])})` : "";
    return `the server's certificate is not valid yet${when} (check both clocks)`;
  }
  const wrongName = /not valid for name "?([^";]+)"?(?:; certificate is only valid for (.+))?/.exec(message);
  if (wrongName || /NotValidForName/.test(message)) {
    const valid = wrongName?.[2] ? `; it is for ${certificateNames(wrongName[2])}` : "";
    return `the server's certificate is not valid for the name ${serverName}${valid} (connect by one of ` +
      `its names, or check another name with --servername NAME)`;
  }
  if (/fatal alert: CertificateRequired/.test(message)) {
    return "the server requires a client certificate (give --cert FILE and --key FILE)";
  }
  if (/fatal alert: (BadCertificate|UnknownCA|CertificateUnknown|AccessDenied)/.test(message)) {
    return "the server rejected the client certificate";
  }
  if (/fatal alert: NoApplicationProtocol/.test(message)) {
    return "the server supports none of the ALPN protocols asked for (--alpn)";
  }
  if (/fatal alert: HandshakeFailure/.test(message)) {
    return "the server aborted the handshake (alert HandshakeFailure: a TLS 1.2 server that requires a " +
      "client certificate says this; give --cert FILE and --key FILE if it does)";
  }
  if (/corrupt message|InvalidContentType|unexpected handshake message|got ClientHello/i.test(message)) {
    return "the server does not speak TLS (is it a plain TCP server? then drop --tls)";
  }
  if (err instanceof Deno.errors.UnexpectedEof || /eof/i.test(message)) {
    return "the server closed the connection during the handshake (is it a TLS server?)";
  }
  if (err instanceof Deno.errors.ConnectionReset) {
    return "the server reset the connection during the handshake";
  }
  const alert = /fatal alert: (\w+)/.exec(message)?.[1];
  if (alert) return `the server aborted the handshake (alert ${alert})`;
  return message;
}

/**
 * Whether bytes start like a TLS record (an alert or a handshake, TLS 1.0–1.3): what a TLS server answers a
 * client that speaks plain TCP to it.
 *
 * @example
 * ```ts
 * looksLikeTls(new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02])); // true: an alert record
 * looksLikeTls(new TextEncoder().encode("Hello")); // false
 * ```
 */
export function looksLikeTls(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && (bytes[0] === 0x15 || bytes[0] === 0x16) && bytes[1] === 0x03 &&
    bytes[2] <= 0x04;
}
