// ECIES test vectors from npm `ecies-geth` (the library Lumerin's buyer tools encrypt pool
// destinations with), and the other direction: decrypting ciphertexts made by our Rust code.
//
//   node gen_ecies_vectors.js generate   prints test-vectors/ecies/vectors.json to stdout
//   node gen_ecies_vectors.js decrypt    reads [{"private_key", "ciphertext"}] (hex) on stdin,
//                                        prints [{"plaintext_hex"} | {"error"}] on stdout
//
// `ecies-geth` is loaded from $ECIES_GETH_DIR when set (the package folder), else by name
// (NODE_PATH). Vectors are deterministic: ephemeral keys and IVs come from SHA-256 of fixed
// labels, through ecies-geth's own `opts` for deterministic output, so regenerating gives the
// same file.
'use strict';

const crypto = require('crypto');
const path = require('path');

const eciesDir = process.env.ECIES_GETH_DIR || 'ecies-geth';
const ecies = require(eciesDir);
const eciesVersion = require(path.join(
  process.env.ECIES_GETH_DIR || path.dirname(require.resolve('ecies-geth/package.json')),
  'package.json'
)).version;

const sha256 = (label) => crypto.createHash('sha256').update(label).digest();

// Fixed recipient keys: anvil/hardhat development account 0 (also the key in Lumerin
// proxy-router's own ECIES test), and two derived from labels.
const KEYS = {
  anvil0: Buffer.from('ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80', 'hex'),
  seller: sha256('hashrouter ecies vector key: seller'),
  other: sha256('hashrouter ecies vector key: other'),
};

const LONG = 'stratum+tcp://' + 'a-very-long-worker-name.'.repeat(40) + ':x@pool.example.com:3333';

// [name, key, plaintext]
const CASES = [
  ['local_pool', 'seller', 'stratum+tcp://user:pass@127.0.0.1:3333'],
  ['empty', 'seller', ''],
  ['one_block', 'seller', 'sixteen bytes!!!'],
  ['proxy_router_example', 'anvil0', 'stratum+tcp://account.worker:pwd@brains.pool.io:3333'],
  [
    'validator_url',
    'anvil0',
    'stratum+tcp://0x5FbDB2315678afecb367f032d93F642f64180aa3:@validator.example.com:7301',
  ],
  ['unicode', 'other', 'stratum+tcp://mineur-é:пароль@池.example:3333 ⛏️'],
  ['long', 'other', LONG],
];

async function encryptDeterministic(name, publicKey, plaintext) {
  const ephemPrivateKey = sha256(`hashrouter ecies vector ephemeral: ${name}`);
  const iv = sha256(`hashrouter ecies vector iv: ${name}`).subarray(0, 16);
  return ecies.encrypt(publicKey, Buffer.from(plaintext, 'utf8'), { ephemPrivateKey, iv });
}

// A vector whose ECDH x coordinate starts with a zero byte, so the shared secret's padding to 32
// bytes is exercised: search labelled ephemeral keys until one gives such a point.
async function leadingZeroSecretVector(privateKey, publicKey) {
  for (let i = 0; i < 100000; i++) {
    const ephemPrivateKey = sha256(`hashrouter ecies vector leading zero: ${i}`);
    const shared = await ecies.derive(ephemPrivateKey, publicKey);
    if (shared[0] === 0) {
      const iv = sha256(`hashrouter ecies vector leading zero iv: ${i}`).subarray(0, 16);
      const plaintext = 'stratum+tcp://zero:secret@127.0.0.1:4444';
      const ciphertext = await ecies.encrypt(publicKey, Buffer.from(plaintext), { ephemPrivateKey, iv });
      return { name: 'leading_zero_shared_secret', plaintext, ciphertext };
    }
  }
  throw new Error('no ephemeral key with a leading-zero shared secret found');
}

async function generate() {
  const vectors = [];
  const add = async (name, keyName, plaintext, ciphertext) => {
    const privateKey = KEYS[keyName];
    const publicKey = await ecies.getPublic(privateKey);
    const decrypted = await ecies.decrypt(privateKey, ciphertext);
    if (decrypted.toString('utf8') !== plaintext) {
      throw new Error(`${name}: ecies-geth does not decrypt its own ciphertext`);
    }
    vectors.push({
      name,
      private_key: privateKey.toString('hex'),
      public_key: publicKey.toString('hex'),
      plaintext,
      ciphertext: ciphertext.toString('hex'),
    });
  };
  for (const [name, keyName, plaintext] of CASES) {
    const publicKey = await ecies.getPublic(KEYS[keyName]);
    await add(name, keyName, plaintext, await encryptDeterministic(name, publicKey, plaintext));
  }
  const seller = KEYS.seller;
  const zero = await leadingZeroSecretVector(seller, await ecies.getPublic(seller));
  await add(zero.name, 'seller', zero.plaintext, zero.ciphertext);

  const out = {
    generator: `ecies-geth ${eciesVersion} (scripts/js/gen_ecies_vectors.js)`,
    format: 'ciphertext = 04 || R.x || R.y || IV(16) || AES-128-CTR(plaintext) || HMAC-SHA256(32), lowercase hex without 0x',
    vectors,
  };
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

async function decryptStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const requests = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const results = [];
  for (const { private_key: privateKey, ciphertext } of requests) {
    try {
      const plaintext = await ecies.decrypt(Buffer.from(privateKey, 'hex'), Buffer.from(ciphertext, 'hex'));
      results.push({ plaintext_hex: plaintext.toString('hex') });
    } catch (e) {
      results.push({ error: String(e && e.message ? e.message : e) });
    }
  }
  process.stdout.write(JSON.stringify(results) + '\n');
}

const mode = process.argv[2] || 'generate';
const run = mode === 'generate' ? generate : mode === 'decrypt' ? decryptStdin : null;
if (!run) {
  process.stderr.write(`unknown mode ${mode}: use generate or decrypt\n`);
  process.exit(2);
}
run().catch((e) => {
  process.stderr.write(`gen_ecies_vectors: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
