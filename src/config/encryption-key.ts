/**
 * TOKEN_ENCRYPTION_KEY: 32 random bytes, as 64 hex digits or base64 (`openssl rand -base64 32`).
 * Checked at start by the service config; used by the adapter store to encrypt tokens at rest.
 */
export function parseEncryptionKey(k: string): Buffer | null {
  if (/^[0-9a-fA-F]{64}$/.test(k)) return Buffer.from(k, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(k)) {
    const b = Buffer.from(k, 'base64');
    if (b.length === 32) return b;
  }
  return null;
}
