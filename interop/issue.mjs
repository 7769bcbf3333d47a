// Makes VC-JWTs and VP-JWTs with did-jwt-vc (an implementation didgate did not
// write) for did:key and did:jwk holders and issuers, Ed25519 and secp256k1.
// Prints one JSON object: { audience, now, cases: [...] }.
import { createVerifiableCredentialJwt, createVerifiablePresentationJwt } from 'did-jwt-vc';
import { EdDSASigner, ES256KSigner } from 'did-jwt';
import { ed25519 } from '@noble/curves/ed25519';
import { secp256k1 } from '@noble/curves/secp256k1';
import { randomUUID } from 'node:crypto';

const audience = process.argv[2] || 'https://gateway.test';

const b64url = (bytes) => Buffer.from(bytes).toString('base64url');
const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
function base58btc(bytes) {
  let n = 0n;
  for (const b of bytes) n = n * 256n + BigInt(b);
  let out = '';
  while (n > 0n) { out = ALPHABET[Number(n % 58n)] + out; n /= 58n; }
  for (const b of bytes) { if (b === 0) out = '1' + out; else break; }
  return out;
}

function identity(kind, method) {
  if (kind === 'ed25519') {
    const sk = ed25519.utils.randomPrivateKey();
    const pk = ed25519.getPublicKey(sk);
    const signer = EdDSASigner(sk);
    if (method === 'key') {
      const mb = 'z' + base58btc(Uint8Array.from([0xed, 0x01, ...pk]));
      return { did: `did:key:${mb}`, kid: `did:key:${mb}#${mb}`, signer, alg: 'EdDSA' };
    }
    const jwk = JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x: b64url(pk) });
    const did = `did:jwk:${b64url(Buffer.from(jwk))}`;
    return { did, kid: `${did}#0`, signer, alg: 'EdDSA' };
  }
  const sk = secp256k1.utils.randomPrivateKey();
  const signer = ES256KSigner(sk);
  if (method === 'key') {
    const mb = 'z' + base58btc(Uint8Array.from([0xe7, 0x01, ...secp256k1.getPublicKey(sk, true)]));
    return { did: `did:key:${mb}`, kid: `did:key:${mb}#${mb}`, signer, alg: 'ES256K' };
  }
  const full = secp256k1.getPublicKey(sk, false);
  const jwk = JSON.stringify({ crv: 'secp256k1', kty: 'EC', x: b64url(full.slice(1, 33)), y: b64url(full.slice(33, 65)) });
  const did = `did:jwk:${b64url(Buffer.from(jwk))}`;
  return { did, kid: `${did}#0`, signer, alg: 'ES256K' };
}

const now = Math.floor(Date.now() / 1000);
const cases = [];
for (const [kind, method] of [['ed25519', 'key'], ['ed25519', 'jwk'], ['es256k', 'key'], ['es256k', 'jwk']]) {
  const issuer = identity(kind, method);
  const holder = identity(kind, method);
  const vc = await createVerifiableCredentialJwt(
    {
      sub: holder.did,
      nbf: now - 10,
      exp: now + 3600,
      jti: `urn:uuid:${randomUUID()}`,
      vc: {
        '@context': ['https://www.w3.org/2018/credentials/v1'],
        type: ['VerifiableCredential', 'EmployeeCredential'],
        credentialSubject: { role: 'engineer', department: 'eng' },
      },
    },
    { did: issuer.did, signer: issuer.signer, alg: issuer.alg },
    { header: { kid: issuer.kid } },
  );
  const vp = await createVerifiablePresentationJwt(
    {
      vp: {
        '@context': ['https://www.w3.org/2018/credentials/v1'],
        type: ['VerifiablePresentation'],
        verifiableCredential: [vc],
      },
      aud: audience,
      nonce: randomUUID(),
      jti: `urn:uuid:${randomUUID()}`,
      nbf: now - 10,
      exp: now + 300,
    },
    { did: holder.did, signer: holder.signer, alg: holder.alg },
    { header: { kid: holder.kid } },
  );
  cases.push({ name: `${kind}-did-${method}`, issuer: issuer.did, holder: holder.did, vc, vp, credential_type: 'EmployeeCredential' });
}
process.stdout.write(JSON.stringify({ audience, now, cases }) + '\n');
