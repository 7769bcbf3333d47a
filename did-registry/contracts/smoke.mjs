// Deploy-and-exercise smoke check of the compiled registries against a dev node whose
// accounts are unlocked (anvil): no npm dependencies, plain JSON-RPC over fetch.
//
//   node smoke.mjs http://127.0.0.1:8545 [ARTIFACTS_DIR]
//
// EthereumDIDRegistry: deploys the creation bytecode, checks the runtime code and
// identityOwner, then setAttribute / addDelegate / changeOwner (events, topics, the
// previousChange back-links, `changed`, `validDelegate`), the `bad_actor` guard, and the
// signed variants (setAttributeSigned, addDelegateSigned, changeOwnerSigned) with a fresh
// secp256k1 key, the hash laid out byte for byte as ethr-did-resolver's controller builds it,
// plus a replay that must fail. StatusRegistry: deploys it against the registry and checks
// who may set/clear bits and that the bits read back.
// Prints "smoke: N passed, 0 failed" and exits 0, or exits 1 at the first failed check.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const rpcUrl = process.argv[2]
if (!rpcUrl) {
  process.stderr.write('usage: node smoke.mjs RPC_URL [ARTIFACTS_DIR]\n')
  process.exit(2)
}
const artifactsDir = resolve(process.argv[3] ?? join(here, 'artifacts'))
const artifact = (name) => JSON.parse(readFileSync(join(artifactsDir, `${name}.json`), 'utf8'))

// ------------------------------------------------------------------ keccak-256 (BigInt lanes)

const MASK64 = (1n << 64n) - 1n
const ROTATIONS = [0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14]
const ROUND_CONSTANTS = (() => {
  const out = []
  let r = 1
  const bit = () => {
    const b = r & 1
    r = (r << 1) ^ (r & 0x80 ? 0x171 : 0)
    return b
  }
  for (let round = 0; round < 24; round++) {
    let rc = 0n
    for (let j = 0; j < 7; j++) if (bit()) rc |= 1n << BigInt((1 << j) - 1)
    out.push(rc)
  }
  return out
})()
const rotl = (v, n) => (n === 0 ? v : ((v << BigInt(n)) | (v >> BigInt(64 - n))) & MASK64)

function keccakF(s) {
  for (let round = 0; round < 24; round++) {
    const c = [0, 1, 2, 3, 4].map((x) => s[x] ^ s[x + 5] ^ s[x + 10] ^ s[x + 15] ^ s[x + 20])
    for (let x = 0; x < 5; x++) {
      const d = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1)
      for (let y = 0; y < 25; y += 5) s[x + y] ^= d
    }
    const b = new Array(25)
    for (let x = 0; x < 5; x++) {
      for (let y = 0; y < 5; y++) b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(s[x + 5 * y], ROTATIONS[x + 5 * y])
    }
    for (let x = 0; x < 5; x++) {
      for (let y = 0; y < 25; y += 5) s[x + y] = b[x + y] ^ (~b[((x + 1) % 5) + y] & MASK64 & b[((x + 2) % 5) + y])
    }
    s[0] ^= ROUND_CONSTANTS[round]
  }
}

/** keccak-256 (Ethereum's, padding 0x01) of bytes; returns bytes. */
function keccak256(data) {
  const rate = 136
  const padded = new Uint8Array(Math.floor(data.length / rate + 1) * rate)
  padded.set(data)
  padded[data.length] ^= 0x01
  padded[padded.length - 1] ^= 0x80
  const s = new Array(25).fill(0n)
  for (let off = 0; off < padded.length; off += rate) {
    for (let i = 0; i < rate / 8; i++) {
      let lane = 0n
      for (let k = 7; k >= 0; k--) lane = (lane << 8n) | BigInt(padded[off + i * 8 + k])
      s[i] ^= lane
    }
    keccakF(s)
  }
  const out = new Uint8Array(32)
  for (let i = 0; i < 4; i++) for (let k = 0; k < 8; k++) out[i * 8 + k] = Number((s[i] >> BigInt(8 * k)) & 0xffn)
  return out
}

// ------------------------------------------------------------------------- byte helpers

const hex = (bytes) => `0x${Buffer.from(bytes).toString('hex')}`
const bytes = (h) => Uint8Array.from(Buffer.from(h.replace(/^0x/, ''), 'hex'))
const utf8 = (s) => new TextEncoder().encode(s)
const concat = (...parts) => Uint8Array.from(parts.flatMap((p) => [...p]))
const keccakHex = (data) => hex(keccak256(typeof data === 'string' ? utf8(data) : data))
const selector = (signature) => keccakHex(signature).slice(0, 10)
const word = (n) => BigInt(n).toString(16).padStart(64, '0')
const addrWord = (a) => a.toLowerCase().replace(/^0x/, '').padStart(64, '0')
const bytes32 = (s) => Buffer.from(utf8(s)).toString('hex').padEnd(64, '0') // right-padded, as did:ethr
const dynBytes = (b) => word(b.length) + Buffer.from(b).toString('hex').padEnd(Math.ceil(b.length / 32) * 64, '0')
const bigIntBytes = (n, len = 32) => bytes(n.toString(16).padStart(len * 2, '0'))

// --------------------------------------------------------------- secp256k1 (test signing)

const P = 2n ** 256n - 2n ** 32n - 977n
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const G = [
  0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798n,
  0x483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8n,
]
const mod = (a, m) => ((a % m) + m) % m
function inv(a, m) {
  let [r0, r1, s0, s1] = [mod(a, m), m, 1n, 0n]
  while (r1) {
    const q = r0 / r1
    ;[r0, r1, s0, s1] = [r1, r0 - q * r1, s1, s0 - q * s1]
  }
  return mod(s0, m)
}
function pointAdd(a, b) {
  if (!a) return b
  if (!b) return a
  if (a[0] === b[0] && mod(a[1] + b[1], P) === 0n) return null
  const l = a[0] === b[0] ? mod(3n * a[0] * a[0] * inv(2n * a[1], P), P) : mod((b[1] - a[1]) * inv(b[0] - a[0], P), P)
  const x = mod(l * l - a[0] - b[0], P)
  return [x, mod(l * (a[0] - x) - a[1], P)]
}
function pointMul(k, pt) {
  let acc = null
  for (let add = pt; k > 0n; k >>= 1n, add = pointAdd(add, add)) if (k & 1n) acc = pointAdd(acc, add)
  return acc
}
const randomScalar = () => mod(BigInt(hex(randomBytes(32))), N - 1n) + 1n
const addressOf = (d) => {
  const [x, y] = pointMul(d, G)
  return hex(keccak256(concat(bigIntBytes(x), bigIntBytes(y))).slice(12))
}
/** Signs a 32-byte hash (no prefix, as ERC-1056's ecrecover expects); returns {v, r, s}. */
function sign(hash, d) {
  const z = BigInt(hex(hash))
  for (;;) {
    const k = randomScalar()
    const R = pointMul(k, G)
    const r = mod(R[0], N)
    let s = mod(inv(k, N) * (z + r * d), N)
    if (r === 0n || s === 0n || R[0] >= N) continue
    let recovery = Number(R[1] & 1n)
    if (s > N / 2n) {
      s = N - s
      recovery ^= 1
    }
    return { v: 27 + recovery, r, s }
  }
}

// ---------------------------------------------------------------------------- JSON-RPC

const GAS_ETHR_DID = 123456n // ethr-did's default gasLimit for registry calls

let rpcId = 0
async function rpc(method, params = []) {
  const res = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method, params }),
  })
  const body = await res.json()
  if (body.error) {
    const err = new Error(`${method}: ${body.error.message}`)
    err.rpc = body.error
    throw err
  }
  return body.result
}

// Explicit gas limits: ethr-did's own default for registry calls, and plenty for a deploy.
// (Letting anvil estimate is not reliable here: it evaluates the estimate in the latest
// block's context, so when the identity's previous change is in that block the
// `changed[identity] = block.number` store looks like a no-op, and the estimate came out
// short and the transaction ran out of gas.)
async function send(from, to, data) {
  const tx = { from, data, gas: to ? `0x${GAS_ETHR_DID.toString(16)}` : '0x4c4b40' }
  if (to) tx.to = to
  const hash = await rpc('eth_sendTransaction', [tx])
  for (let i = 0; i < 100; i++) {
    const receipt = await rpc('eth_getTransactionReceipt', [hash])
    if (receipt) {
      if (receipt.status !== '0x1') {
        const reason = await call(to, data, from).then(() => 'no revert on replay', (err) => err.message)
        check(false, `transaction ${hash} succeeded (${reason})`)
      }
      return receipt
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`no receipt for ${hash}`)
}

const call = (to, data, from) => rpc('eth_call', [{ to, data, ...(from ? { from } : {}) }, 'latest'])

async function reverts(to, data, from, reason) {
  try {
    await call(to, data, from)
  } catch (err) {
    const text = JSON.stringify(err.rpc ?? err.message)
    const encodedReason = Buffer.from(reason).toString('hex')
    return text.includes(reason) || text.includes(encodedReason)
  }
  return false
}

// ------------------------------------------------------------------------------ checks

let passed = 0
function check(ok, what) {
  if (!ok) {
    process.stderr.write(`smoke: FAILED: ${what}\n`)
    process.stdout.write(`smoke: ${passed} passed, 1 failed\n`)
    process.exit(1)
  }
  passed++
}
const eq = (actual, expected, what) =>
  check(String(actual).toLowerCase() === String(expected).toLowerCase(), `${what}: got ${actual}, want ${expected}`)

/** Checks a receipt holds exactly one log of `signature` from `address`; returns its data words. */
function oneLog(receipt, address, signature, indexedWords) {
  eq(receipt.logs.length, 1, `${signature}: log count`)
  const [log] = receipt.logs
  eq(log.address, address, `${signature}: log address`)
  eq(log.topics.length, 1 + indexedWords.length, `${signature}: topic count`)
  eq(log.topics[0], keccakHex(signature), `${signature}: topic0`)
  indexedWords.forEach((w, i) => eq(log.topics[i + 1], `0x${w}`, `${signature}: topic${i + 1}`))
  return log.data.slice(2).match(/.{64}/g) ?? []
}
const blockOf = (receipt) => BigInt(receipt.blockNumber)
const timestampOf = async (receipt) => BigInt((await rpc('eth_getBlockByNumber', [receipt.blockNumber, false])).timestamp)
const fitsEthrDidGas = (receipt, what) =>
  check(BigInt(receipt.gasUsed) < GAS_ETHR_DID, `${what} uses ${BigInt(receipt.gasUsed)} gas < ${GAS_ETHR_DID}`)

eq(keccakHex(''), '0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470', 'keccak256 self-test')
eq(selector('identityOwner(address)'), '0x8733d4e8', 'selector self-test')

const DID_OWNER_CHANGED = 'DIDOwnerChanged(address,address,uint256)'
const DID_DELEGATE_CHANGED = 'DIDDelegateChanged(address,bytes32,address,uint256,uint256)'
const DID_ATTRIBUTE_CHANGED = 'DIDAttributeChanged(address,bytes32,bytes,uint256,uint256)'
const STATUS_CHANGED = 'StatusChanged(address,bytes32,uint256,bool,uint256)'

const accounts = await rpc('eth_accounts')
check(accounts.length >= 8, 'the node has at least 8 unlocked accounts')
const [relayer, identity, newOwner, delegate, issuer, statusDelegate, veriKeyDelegate, outsider] = accounts

// ---------------------------------------------------------------- EthereumDIDRegistry

const registryArtifact = artifact('EthereumDIDRegistry')
const deployReceipt = await send(relayer, null, registryArtifact.bytecode)
const registry = deployReceipt.contractAddress
check(/^0x[0-9a-f]{40}$/i.test(registry ?? ''), 'registry deployed')
eq(await rpc('eth_getCode', [registry, 'latest']), registryArtifact.deployedBytecode, 'registry runtime code')

const identityOwner = async (a) => `0x${(await call(registry, selector('identityOwner(address)') + addrWord(a))).slice(-40)}`
const changed = async (a) => BigInt(await call(registry, selector('changed(address)') + addrWord(a)))
const nonce = async (a) => BigInt(await call(registry, selector('nonce(address)') + addrWord(a)))
const validDelegate = async (id, type, d) =>
  BigInt(await call(registry, selector('validDelegate(address,bytes32,address)') + addrWord(id) + bytes32(type) + addrWord(d))) === 1n

eq(await identityOwner(identity), identity, 'identityOwner of a fresh identity is itself')
eq(await changed(identity), 0n, 'changed of a fresh identity')

// setAttribute (owner sends it)
const attrName = 'did/pub/Secp256k1/veriKey/hex'
const attrValue = bytes('0x02b97c30de767f084ce3080168ee293053ba33b235d7116a3263d29f1450936b71')
const setAttrReceipt = await send(
  identity,
  registry,
  selector('setAttribute(address,bytes32,bytes,uint256)') +
    addrWord(identity) + bytes32(attrName) + word(0x80) + word(86400) + dynBytes(attrValue),
)
fitsEthrDidGas(setAttrReceipt, 'setAttribute')
{
  const d = oneLog(setAttrReceipt, registry, DID_ATTRIBUTE_CHANGED, [addrWord(identity)])
  eq(d[0], bytes32(attrName), 'DIDAttributeChanged.name')
  eq(BigInt(`0x${d[1]}`), 0x80n, 'DIDAttributeChanged.value offset')
  eq(BigInt(`0x${d[2]}`), (await timestampOf(setAttrReceipt)) + 86400n, 'DIDAttributeChanged.validTo')
  eq(BigInt(`0x${d[3]}`), 0n, 'DIDAttributeChanged.previousChange (first change)')
  eq(d.slice(4).join(''), dynBytes(attrValue), 'DIDAttributeChanged.value')
}
eq(await changed(identity), blockOf(setAttrReceipt), 'changed after setAttribute')

// addDelegate
const addDelegateReceipt = await send(
  identity,
  registry,
  selector('addDelegate(address,bytes32,address,uint256)') +
    addrWord(identity) + bytes32('sigAuth') + addrWord(delegate) + word(3600),
)
fitsEthrDidGas(addDelegateReceipt, 'addDelegate')
{
  const d = oneLog(addDelegateReceipt, registry, DID_DELEGATE_CHANGED, [addrWord(identity)])
  eq(d[0], bytes32('sigAuth'), 'DIDDelegateChanged.delegateType')
  eq(d[1], addrWord(delegate), 'DIDDelegateChanged.delegate')
  eq(BigInt(`0x${d[2]}`), (await timestampOf(addDelegateReceipt)) + 3600n, 'DIDDelegateChanged.validTo')
  eq(BigInt(`0x${d[3]}`), blockOf(setAttrReceipt), 'DIDDelegateChanged.previousChange')
}
check(await validDelegate(identity, 'sigAuth', delegate), 'validDelegate(sigAuth) after addDelegate')
check(!(await validDelegate(identity, 'veriKey', delegate)), 'validDelegate(veriKey) is false')
{
  const key = keccakHex(bytes(`0x${bytes32('sigAuth')}`)).slice(2)
  const validTo = BigInt(await call(registry, selector('delegates(address,bytes32,address)') + addrWord(identity) + key + addrWord(delegate)))
  eq(validTo, (await timestampOf(addDelegateReceipt)) + 3600n, 'delegates[identity][keccak256(type)][delegate]')
}

// changeOwner
const changeOwnerReceipt = await send(
  identity,
  registry,
  selector('changeOwner(address,address)') + addrWord(identity) + addrWord(newOwner),
)
fitsEthrDidGas(changeOwnerReceipt, 'changeOwner')
{
  const d = oneLog(changeOwnerReceipt, registry, DID_OWNER_CHANGED, [addrWord(identity)])
  eq(d[0], addrWord(newOwner), 'DIDOwnerChanged.owner')
  eq(BigInt(`0x${d[1]}`), blockOf(addDelegateReceipt), 'DIDOwnerChanged.previousChange')
}
eq(await identityOwner(identity), newOwner, 'identityOwner after changeOwner')
eq(await changed(identity), blockOf(changeOwnerReceipt), 'changed after changeOwner')
check(
  await reverts(registry, selector('changeOwner(address,address)') + addrWord(identity) + addrWord(identity), identity, 'bad_actor'),
  'the former owner can no longer change the owner (bad_actor)',
)

// Signed variants: a fresh key, signed off-chain, relayed by another account. The hashed
// bytes are laid out as ethr-did-resolver's EthrDidController.create*Hash builds them.
const key = randomScalar()
const signer = addressOf(key)
const signedCall = (fn, types, msg, args) => {
  const { v, r, s } = sign(keccak256(msg), key)
  return selector(`${fn}(address,uint8,bytes32,bytes32,${types})`) + addrWord(signer) + word(v) + word(r) + word(s) + args
}
const prefix = async () => concat(bytes('0x1900'), bytes(registry), bigIntBytes(await nonce(await identityOwner(signer))), bytes(signer))

eq(await nonce(signer), 0n, 'nonce of a fresh signer')
const signedAttrMsg = concat(await prefix(), utf8('setAttribute'), bytes(`0x${bytes32(attrName)}`), attrValue, bigIntBytes(86400n))
const setAttrSignedData = signedCall(
  'setAttributeSigned',
  'bytes32,bytes,uint256',
  signedAttrMsg,
  bytes32(attrName) + word(0xe0) + word(86400) + dynBytes(attrValue),
)
const setAttrSignedReceipt = await send(relayer, registry, setAttrSignedData)
fitsEthrDidGas(setAttrSignedReceipt, 'setAttributeSigned')
oneLog(setAttrSignedReceipt, registry, DID_ATTRIBUTE_CHANGED, [addrWord(signer)])
eq(await nonce(signer), 1n, 'nonce after setAttributeSigned')
check(await reverts(registry, setAttrSignedData, relayer, 'bad_signature'), 'a replayed signature is rejected (bad_signature)')

const signedDelegateMsg = concat(await prefix(), utf8('addDelegate'), bytes(`0x${bytes32('veriKey')}`), bytes(delegate), bigIntBytes(3600n))
const addDelegateSignedReceipt = await send(
  relayer,
  registry,
  signedCall('addDelegateSigned', 'bytes32,address,uint256', signedDelegateMsg, bytes32('veriKey') + addrWord(delegate) + word(3600)),
)
fitsEthrDidGas(addDelegateSignedReceipt, 'addDelegateSigned')
eq(
  BigInt(`0x${oneLog(addDelegateSignedReceipt, registry, DID_DELEGATE_CHANGED, [addrWord(signer)])[3]}`),
  blockOf(setAttrSignedReceipt),
  'DIDDelegateChanged.previousChange (signed)',
)
check(await validDelegate(signer, 'veriKey', delegate), 'validDelegate after addDelegateSigned')

const signedOwnerMsg = concat(await prefix(), utf8('changeOwner'), bytes(newOwner))
const changeOwnerSignedReceipt = await send(
  relayer,
  registry,
  signedCall('changeOwnerSigned', 'address', signedOwnerMsg, addrWord(newOwner)),
)
fitsEthrDidGas(changeOwnerSignedReceipt, 'changeOwnerSigned')
eq(oneLog(changeOwnerSignedReceipt, registry, DID_OWNER_CHANGED, [addrWord(signer)])[0], addrWord(newOwner), 'DIDOwnerChanged.owner (signed)')
eq(await identityOwner(signer), newOwner, 'identityOwner after changeOwnerSigned')
eq(await nonce(signer), 3n, 'nonce after three signed changes')

// --------------------------------------------------------------------- StatusRegistry

const statusArtifact = artifact('StatusRegistry')
const statusReceipt = await send(relayer, null, statusArtifact.bytecode + addrWord(registry))
const status = statusReceipt.contractAddress
check(/^0x[0-9a-f]{40}$/i.test(status ?? ''), 'StatusRegistry deployed')
eq(`0x${(await call(status, selector('didRegistry()'))).slice(-40)}`, registry, 'StatusRegistry.didRegistry')

const listId = keccakHex('https://issuer.example/status/1').slice(2)
const setStatus = (index, revoked) =>
  selector('setStatus(address,bytes32,uint256,bool)') + addrWord(issuer) + listId + word(index) + word(revoked ? 1 : 0)
const isRevoked = async (index) =>
  BigInt(await call(status, selector('isRevoked(address,bytes32,uint256)') + addrWord(issuer) + listId + word(index))) === 1n

check(!(await isRevoked(5)), 'a fresh bit is clear')
const revokeReceipt = await send(issuer, status, setStatus(5, true))
{
  const d = oneLog(revokeReceipt, status, STATUS_CHANGED, [addrWord(issuer), listId])
  eq(BigInt(`0x${d[0]}`), 5n, 'StatusChanged.index')
  eq(BigInt(`0x${d[1]}`), 1n, 'StatusChanged.revoked')
  eq(BigInt(`0x${d[2]}`), 0n, 'StatusChanged.previousChange (first change)')
}
check(await isRevoked(5), 'the issuer set bit 5')
check(!(await isRevoked(4)) && !(await isRevoked(6)), 'neighbouring bits stay clear')
check(await reverts(status, setStatus(7, true), outsider, 'bad_actor'), 'an outsider cannot set a bit (bad_actor)')
check(await reverts(status, setStatus(7, true), statusDelegate, 'bad_actor'), 'a not-yet delegate cannot set a bit')

await send(issuer, registry, selector('addDelegate(address,bytes32,address,uint256)') + addrWord(issuer) + bytes32('sigAuth') + addrWord(statusDelegate) + word(3600))
await send(issuer, registry, selector('addDelegate(address,bytes32,address,uint256)') + addrWord(issuer) + bytes32('veriKey') + addrWord(veriKeyDelegate) + word(3600))
await send(issuer, registry, selector('addDelegate(address,bytes32,address,uint256)') + addrWord(issuer) + bytes32('enc') + addrWord(outsider) + word(3600))

const delegateRevokeReceipt = await send(statusDelegate, status, setStatus(300, true))
eq(
  BigInt(`0x${oneLog(delegateRevokeReceipt, status, STATUS_CHANGED, [addrWord(issuer), listId])[2]}`),
  blockOf(revokeReceipt),
  'StatusChanged.previousChange',
)
check(await isRevoked(300), 'a sigAuth delegate set bit 300')
eq(
  BigInt(await call(status, selector('statusWords(address,bytes32,uint256)') + addrWord(issuer) + listId + word(1))),
  1n << 44n,
  'bit 300 is word 1, bit 44',
)
await send(veriKeyDelegate, status, setStatus(5, false))
check(!(await isRevoked(5)), 'a veriKey delegate cleared bit 5')
check(await isRevoked(300), 'clearing bit 5 left bit 300 set')
check(await reverts(status, setStatus(7, true), outsider, 'bad_actor'), 'a delegate of another type (enc) cannot set a bit')

// After an ownership transfer only the new owner (or a delegate) may act for the issuer.
await send(issuer, registry, selector('changeOwner(address,address)') + addrWord(issuer) + addrWord(newOwner))
check(await reverts(status, setStatus(9, true), issuer, 'bad_actor'), 'the former owner cannot set a bit')
await send(newOwner, status, setStatus(9, true))
check(await isRevoked(9), 'the new owner set bit 9')

process.stdout.write(`smoke: ${passed} passed, 0 failed (registry ${registry}, status ${status})\n`)
