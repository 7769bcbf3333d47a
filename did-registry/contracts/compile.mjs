// Compiles the contracts (the registries, the log anchor and the policy registry) with the
// pinned solc (package.json) and writes one artifact per contract:
// {contractName, solcVersion, abi, bytecode, deployedBytecode}.
//
//   node compile.mjs [OUT_DIR]     (default: artifacts/ beside this script)
//
// The output is reproducible: sources are named by file name only (not by path), the
// metadata hash is left out of the bytecode (bytecodeHash "none"), the EVM version is pinned,
// and the JSON has sorted keys and a trailing newline. scripts/check-contract-artifact.sh
// rebuilds into a temporary folder and diffs against the committed artifacts.
import { createRequire } from 'node:module'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const solc = require('solc')

const here = dirname(fileURLToPath(import.meta.url))
const CONTRACTS = ['EthereumDIDRegistry', 'StatusRegistry', 'LogAnchor', 'PolicyRegistry']

const outDir = resolve(process.argv[2] ?? join(here, 'artifacts'))

const input = {
  language: 'Solidity',
  sources: Object.fromEntries(
    CONTRACTS.map((name) => [`${name}.sol`, { content: readFileSync(join(here, `${name}.sol`), 'utf8') }]),
  ),
  settings: {
    optimizer: { enabled: true, runs: 200 },
    // paris: no PUSH0 (shanghai) or later opcodes, so any current node (anvil, revm, geth) runs it.
    evmVersion: 'paris',
    metadata: { bytecodeHash: 'none' },
    outputSelection: {
      '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] },
    },
  },
}

const output = JSON.parse(
  solc.compile(JSON.stringify(input), {
    import: (path) => ({ error: `imports are not supported (${path})` }),
  }),
)

let failed = false
for (const diagnostic of output.errors ?? []) {
  process.stderr.write(`${diagnostic.formattedMessage ?? diagnostic.message}\n`)
  if (diagnostic.severity === 'error') failed = true
}
if (failed) {
  process.stderr.write('compile.mjs: compilation failed\n')
  process.exit(1)
}

// Recursively sorts object keys (arrays keep their order) so the JSON text is stable.
function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys(value[key])]),
    )
  }
  return value
}

mkdirSync(outDir, { recursive: true })
for (const name of CONTRACTS) {
  const contract = output.contracts?.[`${name}.sol`]?.[name]
  if (!contract) {
    process.stderr.write(`compile.mjs: no output for ${name}\n`)
    process.exit(1)
  }
  const artifact = {
    contractName: name,
    solcVersion: solc.version(),
    abi: sortKeys(contract.abi),
    bytecode: `0x${contract.evm.bytecode.object}`,
    deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
  }
  const file = join(outDir, `${name}.json`)
  writeFileSync(file, `${JSON.stringify(artifact, null, 2)}\n`)
  process.stdout.write(`wrote ${file}\n`)
}
