// RFC 6238 TOTP (SHA-1, 30 s, 6 digits) as an authenticator app computes it. The API refuses a code
// used twice (TOTP_REPLAYED), so `freshCode` waits for the next window when this one's was used.
import { createHmac } from "node:crypto";

function base32(secret: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secret.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

export function totp(secret: string, at = Date.now()): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30_000)));
  const mac = createHmac("sha1", base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, "0");
}

const used = new Map<string, number>();

export async function freshCode(secret: string): Promise<string> {
  for (;;) {
    const window = Math.floor(Date.now() / 30_000);
    // A code near the end of its window may be refused on arrival: wait for the next one too.
    const late = Date.now() % 30_000 > 27_000;
    if (used.get(secret) !== window && !late) {
      used.set(secret, window);
      return totp(secret);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
