// An independent RFC 9421 implementation for didgate-client's interop test
// (../interop_npm.rs): the npm package http-message-signatures (pinned in
// package.json / package-lock.json) with Node's own crypto.
//
// stdin: {"cases": [case, …]}; stdout: {"results": [result, …]}, in order.
//
//   {"op": "verify", "request": R, "publicJwk": JWK, "keyid": "did:…#…", "alg": "ed25519"}
//     → {"verified": true|false, "digestOk": true|false|null, "error": "…"|null}
//     The package verifies the signature, requiring @method, @target-uri
//     (and content-digest with a body) and the parameters created, expires,
//     nonce, keyid, alg and tag; tag must be "didgate". The Content-Digest
//     is checked here with Node's sha-256 (the package does not do RFC 9530).
//
//   {"op": "sign", "request": R, "privateJwk": JWK, "keyid": "…", "alg": "…",
//    "created": 1700000000, "expires": 1700000060, "nonce": "…"}
//     → {"headers": {name: value}}: the request's headers plus Content-Digest
//     (Node's sha-256, with a body), Signature-Input and Signature under the
//     label "didgate", made by the package.
//
// R is {"method": "POST", "url": "https://…", "headers": {name: value}, "body": base64}.
// The package's createSigner/createVerifier know ed25519 and
// ecdsa-p256-sha256; ecdsa-secp256k1-sha256 (didgate's name) is given to it
// as a custom key over Node's ECDSA (P1363 r||s encoding).

import { createHash, createPrivateKey, createPublicKey, createSign, createVerify } from 'node:crypto';
import { createSigner, createVerifier, httpbis } from 'http-message-signatures';

const PARAMS = ['created', 'expires', 'nonce', 'keyid', 'alg', 'tag'];

function fields(body) {
  return ['@method', '@target-uri', ...(body.length ? ['content-digest'] : [])];
}

function contentDigest(body) {
  return `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
}

function signerFor(key, alg, keyid) {
  if (alg !== 'ecdsa-secp256k1-sha256') return createSigner(key, alg, keyid);
  return {
    id: keyid,
    alg,
    sign: async (data) => createSign('sha256').update(data).sign({ key, dsaEncoding: 'ieee-p1363' }),
  };
}

function verifierFor(key, alg) {
  if (alg !== 'ecdsa-secp256k1-sha256') return createVerifier(key, alg);
  return async (data, signature) =>
    createVerify('sha256').update(data).verify({ key, dsaEncoding: 'ieee-p1363' }, signature);
}

function header(headers, name) {
  const found = Object.entries(headers).find(([n]) => n.toLowerCase() === name);
  return found ? found[1] : undefined;
}

async function verify(c) {
  const body = Buffer.from(c.request.body, 'base64');
  const key = createPublicKey({ key: c.publicJwk, format: 'jwk' });
  const message = { method: c.request.method, url: c.request.url, headers: c.request.headers };
  const digest = header(c.request.headers, 'content-digest');
  const digestOk = body.length ? digest === contentDigest(body) : digest === undefined ? null : false;
  try {
    const result = await httpbis.verifyMessage(
      {
        keyLookup: async (params) =>
          params.keyid === c.keyid && params.tag === 'didgate'
            ? { id: c.keyid, algs: [c.alg], verify: verifierFor(key, c.alg) }
            : null,
        requiredParams: PARAMS,
        requiredFields: fields(body),
        tolerance: 5,
      },
      message,
    );
    return { verified: result === true, digestOk, error: null };
  } catch (e) {
    return { verified: false, digestOk, error: `${e.name}: ${e.message}` };
  }
}

async function sign(c) {
  const body = Buffer.from(c.request.body, 'base64');
  const key = createPrivateKey({ key: c.privateJwk, format: 'jwk' });
  const headers = { ...c.request.headers };
  if (body.length) headers['Content-Digest'] = contentDigest(body);
  const signed = await httpbis.signMessage(
    {
      key: signerFor(key, c.alg, c.keyid),
      name: 'didgate',
      fields: fields(body),
      params: PARAMS,
      paramValues: {
        created: new Date(c.created * 1000),
        expires: new Date(c.expires * 1000),
        nonce: c.nonce,
        tag: 'didgate',
      },
    },
    { method: c.request.method, url: c.request.url, headers },
  );
  return { headers: signed.headers };
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const { cases } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const results = [];
  for (const c of cases) {
    if (c.op === 'verify') results.push(await verify(c));
    else if (c.op === 'sign') results.push(await sign(c));
    else throw new Error(`unknown op ${c.op}`);
  }
  process.stdout.write(JSON.stringify({ results }));
}

main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});
