import assert from "node:assert/strict";
import { cidrContains, parseCidr, parseIp, sourceNetwork } from "../lib/endpoints/cidr.ts";
import { UsageError } from "../lib/core/errors.ts";
import { accessRefusal } from "../lib/server/guards.ts";
import { parseSize } from "../lib/core/size.ts";

const inside = (cidr: string, address: string) => cidrContains(parseCidr(cidr), address);

Deno.test("cidr: IPv4 networks contain exactly their addresses", () => {
  assert.equal(inside("127.0.0.0/8", "127.0.0.1"), true);
  assert.equal(inside("127.0.0.0/8", "128.0.0.1"), false);
  assert.equal(inside("192.168.4.0/22", "192.168.7.255"), true);
  assert.equal(inside("192.168.4.0/22", "192.168.8.0"), false);
  assert.equal(inside("10.1.2.3", "10.1.2.3"), true);
  assert.equal(inside("10.1.2.3", "10.1.2.4"), false);
  assert.equal(inside("0.0.0.0/0", "203.0.113.9"), true);
});

Deno.test("cidr: IPv6 networks, compressed forms and zones", () => {
  assert.equal(inside("::1/128", "::1"), true);
  assert.equal(inside("::1", "::2"), false);
  assert.equal(inside("fd00::/8", "fd12:3456::1"), true);
  assert.equal(inside("fe80::/10", "fe80::1%eth0"), true);
  assert.equal(inside("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"), true);
  assert.equal(inside("2001:db8::/32", "2001:db9::"), false);
  assert.equal(inside("::/0", "127.0.0.1"), false, "an IPv6 network does not match an IPv4 peer");
});

Deno.test("cidr: IPv4-mapped IPv6 peers (dual-stack listeners) match IPv4 networks", () => {
  assert.equal(inside("127.0.0.0/8", "::ffff:127.0.0.1"), true);
  assert.equal(inside("10.0.0.0/8", "::ffff:127.0.0.1"), false);
  assert.equal(inside("::ffff:0:0/96", "::ffff:127.0.0.1"), true);
});

Deno.test("cidr: an IPv4-mapped network is its IPv4 network, for plain and mapped peers alike", () => {
  const mapped = parseCidr("::ffff:127.0.0.0/104", "--allow");
  assert.deepEqual([mapped.bytes, mapped.prefix], [new Uint8Array([127, 0, 0, 0]), 8]);
  assert.equal(mapped.text, "::ffff:127.0.0.0/104", "shown as given");
  for (const peer of ["127.0.0.1", "::ffff:127.0.0.1", "127.255.0.9"]) {
    assert.equal(inside("::ffff:127.0.0.0/104", peer), true, peer);
  }
  for (const peer of ["128.0.0.1", "::ffff:128.0.0.1", "::1", "::7f00:1"]) {
    assert.equal(inside("::ffff:127.0.0.0/104", peer), false, peer);
  }
  assert.equal(inside("::ffff:0:0/96", "10.1.2.3"), true, "::ffff:0:0/96 is every IPv4 address");
  assert.equal(inside("::ffff:10.0.0.1", "10.0.0.1"), true, "a mapped address is its IPv4 address");
  assert.equal(inside("::ffff:10.0.0.1", "10.0.0.2"), false);
  // IPv6 networks match IPv6 peers only, on a dual-stack listener as on an IPv4 one.
  assert.equal(inside("::/0", "::ffff:127.0.0.1"), false);
  assert.equal(inside("::/80", "::ffff:127.0.0.1"), false);
});

Deno.test("cidr: a UDP source is limited as its IPv4 address, or its IPv6 /64", () => {
  assert.equal(sourceNetwork("192.0.2.7"), "192.0.2.7");
  assert.equal(sourceNetwork("::ffff:192.0.2.7"), "192.0.2.7", "IPv4-mapped counts as the IPv4 address");
  assert.equal(sourceNetwork("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  assert.equal(sourceNetwork("2001:db8:1:2:ffff::1"), "2001:db8:1:2::/64", "the same /64");
  assert.equal(sourceNetwork("2001:db8:1:3::1"), "2001:db8:1:3::/64", "the next /64 is another source");
  assert.equal(sourceNetwork("::1"), "::/64");
  assert.equal(sourceNetwork("fe80::1%eth0"), "fe80::/64");
  assert.equal(sourceNetwork("0:1:0:1:2::"), "0:1:0:1::/64");
});

Deno.test("cidr: addresses parse to their bytes", () => {
  assert.deepEqual(parseIp("1.2.3.4"), new Uint8Array([1, 2, 3, 4]));
  assert.deepEqual(parseIp("::ffff:1.2.3.4")?.subarray(10), new Uint8Array([255, 255, 1, 2, 3, 4]));
  assert.deepEqual(parseIp("1::")?.[1], 1);
  for (
    const bad of ["1.2.3", "1.2.3.256", "1:2:3:4:5:6:7:8:9", "1::2::3", "::g", "", "1.2.3.4.5", "12345::"]
  ) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

Deno.test("cidr: a bad network is a usage error naming the option and the accepted form", () => {
  for (const bad of ["10.0.0.0/33", "::1/129", "10.0.0.0/8/8", "example.com", "10.0.0.0/x", ""]) {
    assert.throws(
      () => parseCidr(bad, "--allow"),
      (err) =>
        err instanceof UsageError && err.exitCode === 2 &&
        err.message.startsWith(`invalid --allow '${bad}': expected an IPv4 or IPv6 address or network`),
      bad,
    );
  }
});

Deno.test("guards: deny wins over allow; an allow list lets in only its networks", () => {
  const v4 = { transport: "tcp" as const, hostname: "127.0.0.1", port: 5000 };
  const v6 = { transport: "tcp" as const, hostname: "::1", port: 5000 };
  assert.equal(accessRefusal(v4, {}), undefined);
  assert.equal(accessRefusal(v4, { deny: [parseCidr("127.0.0.0/8")] }), "denied by --deny 127.0.0.0/8");
  assert.equal(accessRefusal(v4, { allow: [parseCidr("::1")] }), "not in the --allow list");
  assert.equal(accessRefusal(v6, { allow: [parseCidr("::1")] }), undefined);
  assert.equal(
    accessRefusal(v6, { allow: [parseCidr("::/0")], deny: [parseCidr("::1")] }),
    "denied by --deny ::1/128",
  );
});

Deno.test("size: bytes, KiB, MiB, with or without the B; bad sizes are usage errors", () => {
  assert.equal(parseSize("65536"), 65536);
  assert.equal(parseSize("64KiB"), 65536);
  assert.equal(parseSize("64k"), 65536);
  assert.equal(parseSize("1MiB"), 1048576);
  assert.equal(parseSize("1.5M"), 1572864);
  assert.throws(
    () => parseSize("lots", "--max-queue"),
    /^UsageError: invalid --max-queue 'lots': expected a size/,
  );
  assert.throws(() => parseSize("0", "--max-line"), /must be at least 1 B$/);
  assert.throws(() => parseSize("12 parsecs"), UsageError);
});
