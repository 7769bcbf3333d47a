// Cold-resolution benchmark of ethr-did-resolver (the reference did:ethr
// resolver, which walks the previousChange links with one eth_getLogs per
// changed block) for a DID with N registry changes, on a given node.
//
//   node ethr-bench.mjs RPC_URL REGISTRY_ADDRESS [CHANGES=50] [RUNS=20]
//
// Makes CHANGES attribute/delegate changes to a fresh DID (anvil dev account 7,
// one block each), then resolves it RUNS times, each with a new resolver and
// a new provider (no cache), and prints one JSON object:
//   {"did", "changes", "runs", "ms": [...], "median_ms", "p90_ms", "document"}
import { getResolver } from 'ethr-did-resolver';
import { Resolver } from 'did-resolver';
import { Contract, JsonRpcProvider, Wallet, hexlify, randomBytes } from 'ethers';

const CHAIN_ID = 31337;
const NETWORK = '0x7a69';
const GAS = 123456;
// anvil's well-known dev account 7 (public test key).
const KEY = '0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356';

const [rpcUrl, registry, changesArg, runsArg] = process.argv.slice(2);
if (!rpcUrl || !registry) {
  process.stderr.write('usage: node ethr-bench.mjs RPC_URL REGISTRY_ADDRESS [CHANGES] [RUNS]\n');
  process.exit(2);
}
const changes = Number.parseInt(changesArg ?? '50', 10);
const runs = Number.parseInt(runsArg ?? '20', 10);

const abi = [
  'function setAttribute(address identity, bytes32 name, bytes value, uint validity)',
  'function addDelegate(address identity, bytes32 delegateType, address delegate, uint validity)',
];
const bytes32 = (s) => '0x' + Buffer.from(s.padEnd(32, '\0')).toString('hex');

const provider = new JsonRpcProvider(rpcUrl, CHAIN_ID, { staticNetwork: true, pollingInterval: 50, cacheTimeout: -1 });
const wallet = new Wallet(KEY, provider);
const identity = wallet.address;
const did = `did:ethr:${NETWORK}:${identity}`;
const reg = new Contract(registry, abi, wallet);
let nonce = await provider.getTransactionCount(identity);
for (let i = 0; i < changes; i++) {
  const tx =
    i % 2 === 0
      ? await reg.setAttribute(identity, bytes32(`did/svc/Service${i}`), hexlify(Buffer.from(`https://svc${i}.example`)), 86400 * 365, { gasLimit: GAS, nonce: nonce++ })
      : await reg.addDelegate(identity, bytes32('veriKey'), new Wallet(hexlify(randomBytes(32))).address, 86400 * 365, { gasLimit: GAS, nonce: nonce++ });
  const r = await tx.wait();
  if (r.status !== 1) throw new Error(`change ${i} failed`);
}
provider.destroy();

const ms = [];
let document = null;
for (let i = 0; i < runs; i++) {
  const p = new JsonRpcProvider(rpcUrl, CHAIN_ID, { staticNetwork: true, cacheTimeout: -1 });
  const resolver = new Resolver(getResolver({ networks: [{ name: NETWORK, chainId: CHAIN_ID, provider: p, registry }] }), { cache: false });
  const t0 = process.hrtime.bigint();
  const r = await resolver.resolve(did);
  ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  if (r.didResolutionMetadata.error) throw new Error(JSON.stringify(r.didResolutionMetadata));
  document = r.didDocument;
  p.destroy();
}
const sorted = [...ms].sort((a, b) => a - b);
const q = (f) => sorted[Math.min(sorted.length - 1, Math.floor(f * sorted.length))];
process.stdout.write(JSON.stringify({ did, changes, runs, ms, median_ms: q(0.5), p90_ms: q(0.9), document }) + '\n');
