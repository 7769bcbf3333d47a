// A wallet's answer to a didgate login request, made by did-jwt-vc (an
// implementation didgate did not write): a fresh did:key holder, a VC-JWT
// (EmployeeCredential, role and department) signed by the given Ed25519
// issuer key, and a VP-JWT of it for the request (aud = the client_id,
// nonce = the nonce).
//
//   node login-vp.mjs ISSUER_SECRET_HEX ISSUER_DID CLIENT_ID NONCE [ed25519|secp256k1]
//
// The last argument is the holder's key type (default ed25519).
// Prints one JSON line: { holder, issuer, vc, vp }.
import { createVerifiableCredentialJwt, createVerifiablePresentationJwt } from 'did-jwt-vc';
import { EdDSASigner, ES256KSigner } from 'did-jwt';
import { ed25519 } from '@noble/curves/ed25519';
import { secp256k1 } from '@noble/curves/secp256k1';
import { randomUUID } from 'node:crypto';

const [issuerHex, issuerDid, clientId, nonce, holderKind = 'ed25519'] = process.argv.slice(2);
function fail(message) {
  console.error(`login-vp: ${message}`);
  process.exit(1);
}
if (!issuerHex || !issuerDid || !clientId || !nonce) {
  fail('usage: node login-vp.mjs ISSUER_SECRET_HEX ISSUER_DID CLIENT_ID NONCE [ed25519|secp256k1]');
}
if (!/^[0-9a-fA-F]{64}$/.test(issuerHex)) fail('the issuer secret key must be 32 bytes in hex');
if (!['ed25519', 'secp256k1'].includes(holderKind)) fail(`unknown holder key type ${holderKind}`);

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
function base58btc(bytes) {
  let n = 0n;
  for (const b of bytes) n = n * 256n + BigInt(b);
  let out = '';
  while (n > 0n) { out = ALPHABET[Number(n % 58n)] + out; n /= 58n; }
  for (const b of bytes) { if (b === 0) out = '1' + out; else break; }
  return out;
}

/// A did:key identity (multicodec ed25519-pub 0xed or secp256k1-pub 0xe7)
/// with its did-jwt signer; kid = `did:key:z…#z…`.
function didKey(kind, sk) {
  const [codec, pk, signer, alg] = kind === 'ed25519'
    ? [0xed, ed25519.getPublicKey(sk), EdDSASigner(sk), 'EdDSA']
    : [0xe7, secp256k1.getPublicKey(sk, true), ES256KSigner(sk), 'ES256K'];
  const mb = 'z' + base58btc(Uint8Array.from([codec, 0x01, ...pk]));
  return { did: `did:key:${mb}`, kid: `did:key:${mb}#${mb}`, signer, alg };
}

const issuer = didKey('ed25519', Uint8Array.from(Buffer.from(issuerHex, 'hex')));
if (issuer.did !== issuerDid) fail(`the secret key is not ${issuerDid}'s (it is ${issuer.did}'s)`);
const holder = didKey(
  holderKind,
  holderKind === 'ed25519' ? ed25519.utils.randomPrivateKey() : secp256k1.utils.randomPrivateKey(),
);

const now = Math.floor(Date.now() / 1000);
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
    aud: clientId,
    nonce,
    jti: `urn:uuid:${randomUUID()}`,
    nbf: now - 10,
    exp: now + 120,
  },
  { did: holder.did, signer: holder.signer, alg: holder.alg },
  { header: { kid: holder.kid } },
);
process.stdout.write(JSON.stringify({ holder: holder.did, issuer: issuer.did, vc, vp }) + '\n');
