// Resolves did:ethr DIDs and DID URLs (`?versionId=N` for a historical version) with
// ethr-did-resolver against a dev node (anvil) running the ERC-1056 registry, so didgate's
// resolver can be compared with it on changes the tests make themselves.
//
//   node ethr-resolve.mjs RPC_URL REGISTRY_ADDRESS DID_URL...
//
// ETHR_DID_RESOLVER=/path/to/ethr-did-resolver/lib/index.js resolves with another build of
// ethr-did-resolver (for comparing with a release the lock file does not pin); its runtime
// dependency, ethers, must resolve from that path.
//
// stdout, one JSON object a line:
//   {"did": <DID URL as given>, "result": <didResolutionResult>}    or
//   {"did": <DID URL as given>, "thrown": "<message>"}               (the resolver threw)
//   {"done": true, "resolver": "<ethr-did-resolver version>"}
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Resolver } from 'did-resolver';
import { JsonRpcProvider } from 'ethers';

const CHAIN_ID = 31337; // anvil's default
const NETWORK = `0x${CHAIN_ID.toString(16)}`; // did:ethr:0x7a69:...

const [rpcUrl, registry, ...dids] = process.argv.slice(2);
if (!rpcUrl || !registry || dids.length === 0) {
  process.stderr.write('usage: node ethr-resolve.mjs RPC_URL REGISTRY_ADDRESS DID_URL...\n');
  process.exit(2);
}

/** The version in the package.json above a module file. */
function versionOf(file) {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      const p = JSON.parse(readFileSync(pkg, 'utf8'));
      if (p.name === 'ethr-did-resolver') return p.version;
    }
  }
  return 'unknown';
}

async function main() {
  const override = process.env.ETHR_DID_RESOLVER;
  const file = override ? resolvePath(override) : createRequire(import.meta.url).resolve('ethr-did-resolver');
  const mod = await import(pathToFileURL(file).href);
  const getResolver = mod.getResolver ?? mod.default?.getResolver;
  // No response cache: the resolver must see the changes made just before.
  const provider = new JsonRpcProvider(rpcUrl, CHAIN_ID, { staticNetwork: true, cacheTimeout: -1 });
  const resolver = new Resolver(getResolver({ networks: [{ name: NETWORK, chainId: CHAIN_ID, rpcUrl, provider, registry }] }));
  for (const did of dids) {
    try {
      process.stdout.write(JSON.stringify({ did, result: await resolver.resolve(did) }) + '\n');
    } catch (err) {
      process.stdout.write(JSON.stringify({ did, thrown: String(err?.message ?? err) }) + '\n');
    }
  }
  process.stdout.write(JSON.stringify({ done: true, resolver: versionOf(file) }) + '\n');
  provider.destroy();
}

main().catch((err) => {
  process.stderr.write(`ethr-resolve: FAILED: ${err.stack || err}\n`);
  process.exit(1);
});
