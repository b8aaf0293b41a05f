/**
 * The secret part of a scoped key, with Web Crypto only (Workers and Node alike). A key is
 * `cvg_<16 hex id>_<43 base64url chars: 32 random bytes>`: the id finds the stored row without a scan, and only the
 * SHA-256 of the whole key is stored, compared in time independent of where it differs.
 */
const KEY_PATTERN = /^cvg_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/;

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function newKey(): { id: string; key: string } {
  const idHex = hex(crypto.getRandomValues(new Uint8Array(8)));
  return { id: `key_${idHex}`, key: `cvg_${idHex}_${base64url(crypto.getRandomValues(new Uint8Array(32)))}` };
}

/** The id of a presented key of this form (`key_...`), or null: anything else is no scoped key. */
export function keyIdOf(presented: string): string | null {
  const match = KEY_PATTERN.exec(presented);
  return match ? `key_${match[1]}` : null;
}

export async function hashKey(key: string): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key))));
}

/** Equal strings, in time that depends only on their lengths. */
export function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}
