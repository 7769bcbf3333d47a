// Drives a scripted series of ERC-1056 changes with ethr-did (an implementation didgate did
// not write) against a dev node (anvil), and after every change resolves each scenario DID
// with ethr-did-resolver, so didgate's did:ethr resolver can be checked document for document.
//
//   node ethr-scenario.mjs RPC_URL REGISTRY_ADDRESS [OFFSET]
//   node ethr-scenario.mjs --deploy RPC_URL        (deploys the registry, prints its address)
//
// stdout, one JSON object a line:
//   {"step": 0, "action": "initial", "block": <head>, "docs": {...}}      before any change
//   {"step": n, "action": "...", "did": <the DID changed>, "block": <block of the tx>, "docs": {"<did>": <didResolutionResult>}}
//   {"done": true, "chainId": 31337, "dids": [...], "network": "0x7a69", "offset": k, "registry": "0x..."}
// Diagnostics go to stderr.
//
// Accounts are anvil's well-known dev keys (mnemonic "test test ... junk"). OFFSET picks the
// set: offset 0 uses accounts 0-3, offset 1 accounts 4-7, offset k >= 2 the mnemonic's
// accounts 10+4(k-2)..13+4(k-2), which are topped up from account 9 when they hold no ether
// (anvil funds only the first ten unless started with --accounts). Accounts 8 and 9 are left to
// ethr-vc.mjs. Without OFFSET the first offset whose identities the registry has never seen is
// used, so running the scenario twice against one node does not collide.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EthrDID, DelegateTypes } from 'ethr-did';
import { getResolver } from 'ethr-did-resolver';
import { Resolver } from 'did-resolver';
import { Contract, HDNodeWallet, JsonRpcProvider, Wallet, keccak256, toUtf8Bytes, parseEther } from 'ethers';
import { secp256k1 } from '@noble/curves/secp256k1';
import { ed25519, x25519 } from '@noble/curves/ed25519';

const CHAIN_ID = 31337; // anvil's default
const NETWORK = `0x${CHAIN_ID.toString(16)}`; // '0x7a69': the network segment of every DID here
const GAS = 123456; // explicit: anvil's estimate comes out short for this registry
const NULL_ADDRESS = '0x0000000000000000000000000000000000000000';
const MNEMONIC = 'test test test test test test test test test test test junk';
// anvil's default accounts 0..9 (public, well-known dev keys of the mnemonic above).
const ANVIL_KEYS = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
  '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6',
  '0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a',
  '0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba',
  '0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e',
  '0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356',
  '0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97',
  '0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6',
];
const FUNDER = 9;

const log = (...args) => process.stderr.write(`ethr-scenario: ${args.join(' ')}\n`);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const usage = () => {
  process.stderr.write('usage: node ethr-scenario.mjs RPC_URL REGISTRY_ADDRESS [OFFSET]\n       node ethr-scenario.mjs --deploy RPC_URL\n');
  process.exit(2);
};

const anvilKey = (i) =>
  i < ANVIL_KEYS.length ? ANVIL_KEYS[i] : HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`).privateKey;
const accountIndexes = (offset) => [0, 1, 2, 3].map((j) => (offset < 2 ? 4 * offset + j : 10 + 4 * (offset - 2) + j));
/** A deterministic 32-byte secret from a label (for delegate addresses and attribute keys). */
const secret = (label) => keccak256(toUtf8Bytes(`didgate-ethr-scenario:${label}`));
const addressOf = (key) => new Wallet(key).address;

async function waitReceipt(provider, hash) {
  const receipt = await provider.waitForTransaction(hash);
  if (!receipt || receipt.status !== 1) throw new Error(`transaction ${hash} failed`);
  return receipt;
}

async function deploy(rpcUrl) {
  const here = dirname(fileURLToPath(import.meta.url));
  const artifact = JSON.parse(
    readFileSync(join(here, '..', 'did-registry', 'contracts', 'artifacts', 'EthereumDIDRegistry.json'), 'utf8'),
  );
  const provider = new JsonRpcProvider(rpcUrl, CHAIN_ID, { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 });
  const deployer = new Wallet(ANVIL_KEYS[0], provider);
  const tx = await deployer.sendTransaction({ data: artifact.bytecode, gasLimit: 5_000_000 });
  const receipt = await waitReceipt(provider, tx.hash);
  log(`registry deployed at ${receipt.contractAddress} in block ${receipt.blockNumber}`);
  process.stdout.write(`${receipt.contractAddress}\n`);
  provider.destroy();
}

async function main() {
  if (process.argv[2] === '--deploy') {
    if (!process.argv[3]) usage();
    return deploy(process.argv[3]);
  }
  const [rpcUrl, registry, offsetArg] = process.argv.slice(2);
  if (!rpcUrl || !registry) usage();

  const provider = new JsonRpcProvider(rpcUrl, CHAIN_ID, { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 });
  const chainId = Number((await provider.getNetwork()).chainId);
  const reported = Number(await provider.send('eth_chainId', []));
  if (reported !== CHAIN_ID) throw new Error(`node chain id ${reported}, expected anvil's ${CHAIN_ID}`);
  const registryContract = new Contract(registry, ['function changed(address) view returns (uint256)'], provider);
  if ((await provider.getCode(registry)) === '0x') throw new Error(`no contract at ${registry}`);

  // Pick the accounts.
  let offset;
  if (offsetArg !== undefined) {
    offset = Number.parseInt(offsetArg, 10);
    if (!(offset >= 0)) usage();
  } else {
    for (offset = 0; ; offset++) {
      const addrs = accountIndexes(offset).map((i) => addressOf(anvilKey(i)));
      const changes = await Promise.all(addrs.map((a) => registryContract.changed(a)));
      if (changes.every((c) => c === 0n)) break;
    }
  }
  const indexes = accountIndexes(offset);
  const keys = indexes.map(anvilKey);
  log(`offset ${offset}: anvil accounts ${indexes.join(', ')}`);
  for (const [n, key] of keys.entries()) {
    const addr = addressOf(key);
    if ((await provider.getBalance(addr)) === 0n) {
      log(`funding account ${indexes[n]} (${addr}) from account ${FUNDER}`);
      const funder = new Wallet(ANVIL_KEYS[FUNDER], provider);
      const tx = await funder.sendTransaction({ to: addr, value: parseEther('10') });
      await waitReceipt(provider, tx.hash);
    }
  }
  const [keyA, keyB, keyC, keyN] = keys;

  const ethrDid = (identifier, privateKey) =>
    new EthrDID({ identifier, privateKey, provider, chainNameOrId: CHAIN_ID, registry, rpcUrl });
  // A: address form. B: public-key form (compressed secp256k1 key). C: address form, deactivated at the end.
  const pubB = '0x' + Buffer.from(secp256k1.getPublicKey(keyB.slice(2), true)).toString('hex');
  const didA = ethrDid(addressOf(keyA), keyA);
  let didB = ethrDid(pubB, keyB);
  const didC = ethrDid(addressOf(keyC), keyC);
  const ownerN = addressOf(keyN);
  const dids = [didA.did, didB.did, didC.did];
  log(`DIDs: ${dids.join(' ')}; new owner for B: ${ownerN}`);

  // Deterministic delegate addresses and attribute values (distinct per offset).
  const s = (label) => secret(`${offset}:${label}`);
  const delegate = (label) => addressOf(s(`delegate:${label}`));
  const secpKeyHex = '0x' + Buffer.from(secp256k1.getPublicKey(s('secp256k1').slice(2), true)).toString('hex');
  const secpSigAuthHex = '0x' + Buffer.from(secp256k1.getPublicKey(s('secp256k1-sigauth').slice(2), true)).toString('hex');
  const ed25519B64 = Buffer.from(ed25519.getPublicKey(s('ed25519').slice(2))).toString('base64');
  const x25519B64 = Buffer.from(x25519.getPublicKey(s('x25519').slice(2))).toString('base64');
  const hubUrl = `https://hub.example.com/.identity/${addressOf(keyA)}/`;
  const messagingEndpoint = JSON.stringify({ uri: 'https://messaging.example.com/didcomm', accept: ['didcomm/v2'], routingKeys: [] });
  const day = 86400;
  const tx = { gasLimit: GAS };

  // The resolver gets a provider of its own without ethers' 250 ms response cache (with only
  // rpcUrl it builds one with the cache, and could answer `changed(identity)` from before the
  // step's transaction).
  const resolverProvider = new JsonRpcProvider(rpcUrl, CHAIN_ID, { staticNetwork: true, cacheTimeout: -1 });
  const resolver = new Resolver(
    getResolver({ networks: [{ name: NETWORK, chainId: CHAIN_ID, rpcUrl, provider: resolverProvider, registry }] }),
  );
  async function resolveAll() {
    const docs = {};
    for (const did of dids) {
      const result = await resolver.resolve(did);
      if (result.didResolutionMetadata?.error) {
        throw new Error(`resolving ${did}: ${result.didResolutionMetadata.error}: ${result.didResolutionMetadata.message}`);
      }
      docs[did] = result;
    }
    return docs;
  }

  let step = 0;
  out({ step, action: 'initial', block: await provider.getBlockNumber(), docs: await resolveAll() });

  const steps = [
    ['A setAttribute did/pub/Secp256k1/veriKey/hex', () => didA.setAttribute('did/pub/Secp256k1/veriKey/hex', secpKeyHex, day, undefined, tx)],
    ['A setAttribute did/pub/Ed25519/veriKey/base64', () => didA.setAttribute('did/pub/Ed25519/veriKey/base64', ed25519B64, day, undefined, tx)],
    ['A setAttribute did/pub/X25519/enc/base64', () => didA.setAttribute('did/pub/X25519/enc/base64', x25519B64, day, undefined, tx)],
    ['A setAttribute did/svc/HubService (URL)', () => didA.setAttribute('did/svc/HubService', hubUrl, day, undefined, tx)],
    ['B setAttribute did/svc/MessagingService (JSON endpoint)', () => didB.setAttribute('did/svc/MessagingService', messagingEndpoint, day, undefined, tx)],
    ['A addDelegate veriKey', () => didA.addDelegate(delegate('A-veriKey'), { delegateType: DelegateTypes.veriKey, expiresIn: day }, tx)],
    ['A addDelegate sigAuth', () => didA.addDelegate(delegate('A-sigAuth'), { delegateType: DelegateTypes.sigAuth, expiresIn: day }, tx)],
    ['A addDelegate enc', () => didA.addDelegate(delegate('A-enc'), { delegateType: DelegateTypes.enc, expiresIn: day }, tx)],
    ['B addDelegate sigAuth', () => didB.addDelegate(delegate('B-sigAuth'), { delegateType: DelegateTypes.sigAuth, expiresIn: day }, tx)],
    ['C setAttribute did/svc/HubService (URL)', () => didC.setAttribute('did/svc/HubService', `https://hub.example.com/c/${offset}`, day, undefined, tx)],
    ['C addDelegate sigAuth', () => didC.addDelegate(delegate('C-sigAuth'), { delegateType: DelegateTypes.sigAuth, expiresIn: day }, tx)],
    ['A revokeDelegate veriKey', () => didA.revokeDelegate(delegate('A-veriKey'), DelegateTypes.veriKey, tx)],
    ['A revokeAttribute did/pub/Ed25519/veriKey/base64', () => didA.revokeAttribute('did/pub/Ed25519/veriKey/base64', ed25519B64, undefined, tx)],
    ['A addDelegate veriKey (after revocations)', () => didA.addDelegate(delegate('A-veriKey-2'), { delegateType: DelegateTypes.veriKey, expiresIn: day }, tx)],
    [`B changeOwner to ${ownerN}`, async () => {
      const hash = await didB.changeOwner(ownerN, tx);
      didB = ethrDid(pubB, keyN); // the new owner signs B's changes from here on
      return hash;
    }],
    ['B (new owner) setAttribute did/pub/Secp256k1/sigAuth/hex', () => didB.setAttribute('did/pub/Secp256k1/sigAuth/hex', secpSigAuthHex, day, undefined, tx)],
    ['C changeOwner to 0x0 (deactivate)', () => didC.changeOwner(NULL_ADDRESS, tx)],
  ];

  for (const [action, run] of steps) {
    step++;
    log(`step ${step}: ${action}`);
    const changedDid = dids['ABC'.indexOf(action[0])];
    const hash = await run();
    const receipt = await waitReceipt(provider, hash);
    if (action.includes('revoke')) {
      // A revocation sets validTo = the block's time; ethr-did-resolver drops the
      // entry only once the clock has left that second (didgate at once): resolve after it.
      const block = await provider.getBlock(receipt.blockNumber);
      while (Date.now() / 1000 < block.timestamp + 1) await new Promise((r) => setTimeout(r, 50));
    }
    const docs = await resolveAll();
    // Self-check: the changed DID's document is the one as of this transaction.
    const versionId = docs[changedDid].didDocumentMetadata.versionId;
    if (versionId !== String(receipt.blockNumber)) {
      throw new Error(`${changedDid}: versionId ${versionId} after a change in block ${receipt.blockNumber}`);
    }
    out({ step, action, did: changedDid, block: receipt.blockNumber, docs });
  }

  out({ done: true, chainId, dids, network: NETWORK, offset, registry });
  provider.destroy();
  resolverProvider.destroy();
}

main().catch((err) => {
  log(`FAILED: ${err.stack || err}`);
  process.exit(1);
});
