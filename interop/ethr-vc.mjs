// Makes VC-JWTs and a VP-JWT with did-jwt-vc for did:ethr issuer and holder anchored on a dev
// node (anvil) running the ERC-1056 registry, and checks them with did-jwt-vc's own verifier
// against ethr-did-resolver before printing them.
//
//   node ethr-vc.mjs RPC_URL REGISTRY_ADDRESS [AUDIENCE]
//
// The issuer is anvil's dev account 8, the holder account 9 (ethr-scenario.mjs leaves both
// alone). `vc` is signed ES256K by the issuer's own key (kid `${issuer}#controller`);
// `vc_delegate` by a fresh key that the issuer first adds on chain as a veriKey delegate (kid
// `${issuer}#delegate-N`, as the resolver numbers it), so a verifier has to find the delegate in
// the issuer's DID document. `vp` is the holder's presentation of `vc` to AUDIENCE.
// Prints one JSON object:
//   { issuer, holder, vc, vc_delegate, vp, now, audience, credential_type, delegate, delegate_kid, nonce }
import { createVerifiableCredentialJwt, createVerifiablePresentationJwt, verifyCredential, verifyPresentation } from 'did-jwt-vc';
import { ES256KSigner, hexToBytes } from 'did-jwt';
import { Resolver } from 'did-resolver';
import { EthrDID, DelegateTypes } from 'ethr-did';
import { getResolver } from 'ethr-did-resolver';
import { JsonRpcProvider, Wallet } from 'ethers';
import { secp256k1 } from '@noble/curves/secp256k1';
import { randomUUID } from 'node:crypto';

const CHAIN_ID = 31337; // anvil's default
const NETWORK = `0x${CHAIN_ID.toString(16)}`; // did:ethr:0x7a69:...
const GAS = 123456; // explicit: anvil's estimate comes out short for this registry
// anvil's well-known dev keys (mnemonic "test test ... junk"), accounts 8 and 9.
const ISSUER_KEY = '0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97';
const HOLDER_KEY = '0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6';
const CREDENTIAL_TYPE = 'EmployeeCredential';

const log = (...args) => process.stderr.write(`ethr-vc: ${args.join(' ')}\n`);
const [rpcUrl, registry, audienceArg] = process.argv.slice(2);
if (!rpcUrl || !registry) {
  process.stderr.write('usage: node ethr-vc.mjs RPC_URL REGISTRY_ADDRESS [AUDIENCE]\n');
  process.exit(2);
}
const audience = audienceArg || 'https://gateway.test';

async function main() {
  // No response cache: the resolver must see the delegate added just before.
  const providerOptions = { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 };
  const provider = new JsonRpcProvider(rpcUrl, CHAIN_ID, providerOptions);
  const resolverProvider = new JsonRpcProvider(rpcUrl, CHAIN_ID, providerOptions);
  const reported = Number(await provider.send('eth_chainId', []));
  if (reported !== CHAIN_ID) throw new Error(`node chain id ${reported}, expected anvil's ${CHAIN_ID}`);
  if ((await provider.getCode(registry)) === '0x') throw new Error(`no contract at ${registry}`);
  const resolver = new Resolver(
    getResolver({ networks: [{ name: NETWORK, chainId: CHAIN_ID, rpcUrl, provider: resolverProvider, registry }] }),
  );

  const ethrDid = (key) =>
    new EthrDID({ identifier: new Wallet(key).address, privateKey: key, provider, chainNameOrId: CHAIN_ID, registry, rpcUrl });
  const issuerDid = ethrDid(ISSUER_KEY);
  const holderDid = ethrDid(HOLDER_KEY);
  const issuer = { did: issuerDid.did, signer: ES256KSigner(hexToBytes(ISSUER_KEY)), alg: 'ES256K' };
  const holder = { did: holderDid.did, signer: ES256KSigner(hexToBytes(HOLDER_KEY)), alg: 'ES256K' };

  // A fresh delegate signing key, added on chain as a veriKey delegate of the issuer.
  const delegateKey = secp256k1.utils.randomPrivateKey();
  const delegate = new Wallet('0x' + Buffer.from(delegateKey).toString('hex')).address;
  const hash = await issuerDid.addDelegate(delegate, { delegateType: DelegateTypes.veriKey, expiresIn: 86400 }, { gasLimit: GAS });
  const receipt = await provider.waitForTransaction(hash);
  if (!receipt || receipt.status !== 1) throw new Error(`addDelegate transaction ${hash} failed`);
  log(`issuer ${issuer.did} added veriKey delegate ${delegate} in block ${receipt.blockNumber}`);
  const { didDocument } = await resolver.resolve(issuer.did);
  const delegateVm = (didDocument?.verificationMethod || []).find(
    (vm) => vm.blockchainAccountId?.toLowerCase() === `eip155:${CHAIN_ID}:${delegate}`.toLowerCase(),
  );
  if (!delegateVm) throw new Error(`the delegate ${delegate} is not in ${issuer.did}'s document`);
  const delegateKid = delegateVm.id;

  const now = Math.floor(Date.now() / 1000);
  const credentialPayload = () => ({
    sub: holder.did,
    nbf: now - 10,
    exp: now + 3600,
    jti: `urn:uuid:${randomUUID()}`,
    vc: {
      '@context': ['https://www.w3.org/2018/credentials/v1'],
      type: ['VerifiableCredential', CREDENTIAL_TYPE],
      credentialSubject: { role: 'engineer', department: 'eng' },
    },
  });
  const vc = await createVerifiableCredentialJwt(credentialPayload(), issuer, { header: { kid: `${issuer.did}#controller` } });
  const vcDelegate = await createVerifiableCredentialJwt(
    credentialPayload(),
    { did: issuer.did, signer: ES256KSigner(delegateKey), alg: 'ES256K' },
    { header: { kid: delegateKid } },
  );
  const nonce = randomUUID();
  const vp = await createVerifiablePresentationJwt(
    {
      vp: {
        '@context': ['https://www.w3.org/2018/credentials/v1'],
        type: ['VerifiablePresentation'],
        verifiableCredential: [vc],
      },
      aud: audience,
      nonce,
      jti: `urn:uuid:${randomUUID()}`,
      nbf: now - 10,
      exp: now + 300,
    },
    holder,
    { header: { kid: `${holder.did}#controller` } },
  );

  // Check them with did-jwt-vc's verifier against ethr-did-resolver.
  const vcCheck = await verifyCredential(vc, resolver, { proofPurpose: 'assertionMethod' });
  if (vcCheck.signer.id !== `${issuer.did}#controller`) throw new Error(`vc verified by ${vcCheck.signer.id}`);
  const delegateCheck = await verifyCredential(vcDelegate, resolver, { proofPurpose: 'assertionMethod' });
  if (delegateCheck.signer.id !== delegateKid) throw new Error(`vc_delegate verified by ${delegateCheck.signer.id}`);
  const vpCheck = await verifyPresentation(vp, resolver, { audience, challenge: nonce, proofPurpose: 'authentication' });
  if (vpCheck.signer.id !== `${holder.did}#controller`) throw new Error(`vp verified by ${vpCheck.signer.id}`);
  log(`verified: vc by ${vcCheck.signer.id}, vc_delegate by ${delegateCheck.signer.id}, vp by ${vpCheck.signer.id}`);

  process.stdout.write(
    JSON.stringify({
      issuer: issuer.did,
      holder: holder.did,
      vc,
      vc_delegate: vcDelegate,
      vp,
      now,
      audience,
      credential_type: CREDENTIAL_TYPE,
      delegate,
      delegate_kid: delegateKid,
      nonce,
    }) + '\n',
  );
  provider.destroy();
  resolverProvider.destroy();
}

main().catch((err) => {
  log(`FAILED: ${err.stack || err}`);
  process.exit(1);
});
