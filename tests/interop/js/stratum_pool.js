// Runs npm `stratum-pool-sha256@2.1.3` (a real Stratum V1 pool in JavaScript) as an interop-test
// peer:
//
//   node stratum_pool.js CONFIG.json
//
// CONFIG.json (written by the test):
//   package_dir        folder of the installed package (scripts/install-stratum-pool.sh)
//   stratum_port       port to listen on, on 127.0.0.1 only
//   difficulty         fixed share difficulty of that port
//   rpc                {port, user, password} of the bitcoind JSON-RPC (minesim's shim) on 127.0.0.1
//   address            the pool's payout address (checked with validateaddress)
//   block_refresh_ms   how often to poll getblocktemplate for a new tip (default 500)
//   extranonce2_size   optional: the miners' extranonce2 size; the package has 4 built in, this
//                      runner widens it (extranonce1 stays 4 bytes) so a routing node has room
//                      for its device id inside
//   verbose            optional: also print the pool's debug log lines
//
// Everything stays on loopback: the stratum listener is bound to 127.0.0.1, the only daemon is
// on 127.0.0.1, P2P block notification and IP banning are off.
//
// Output: one JSON object per line on stdout for each event the test reads,
//   {"event":"started","port":N}
//   {"event":"authorize","worker":"..."}
//   {"event":"share","valid":bool,"block":bool,"worker":"...","difficulty":D,"share_diff":D,
//    "height":H,"job":"...","error":null|"...","block_hash":null|"..."}
// mixed with the package's own console output (which is never a JSON object). Pool log events
// go to stderr.
'use strict';

const fs = require('fs');
const net = require('net');
const path = require('path');

const configPath = process.argv[2];
if (!configPath) {
    process.stderr.write('usage: node stratum_pool.js CONFIG.json\n');
    process.exit(2);
}
const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));

function emit(event) {
    process.stdout.write(JSON.stringify(event) + '\n');
}

// The package listens with `server.listen(port)`, i.e. on every interface: pin listeners that
// name no host to loopback.
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
    const portOnly = typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]));
    if (portOnly && typeof args[1] !== 'string') {
        args.splice(1, 0, '127.0.0.1');
    }
    return listen.apply(this, args);
};

// The package's extranonce placeholder is 8 bytes (4 extranonce1 + 4 extranonce2). Its
// block-candidate code path reads a global `extraNoncePlaceholder` that it never defines (the
// pool dies with a ReferenceError on a share meeting the network target without it), so define
// it, with the same length as the job manager's.
const EXTRANONCE1_SIZE = 4;
const jobManagerPath = require.resolve(path.join(config.package_dir, 'lib', 'jobManager.js'));
const JobManager = require(jobManagerPath);
let placeholder = Buffer.from('f000000ff111111f', 'hex');
const extranonce2Size = config.extranonce2_size;
if (extranonce2Size && extranonce2Size !== placeholder.length - EXTRANONCE1_SIZE) {
    placeholder = Buffer.alloc(EXTRANONCE1_SIZE + extranonce2Size, 0xf0);
    // pool.js requires './jobManager.js' after this, and gets the widened one from the cache.
    function WideJobManager(options) {
        JobManager.call(this, options);
        this.extraNoncePlaceholder = placeholder;
        this.extraNonce2Size = extranonce2Size;
    }
    WideJobManager.prototype = JobManager.prototype;
    require.cache[jobManagerPath].exports = WideJobManager;
}
global.extraNoncePlaceholder = placeholder;

const Stratum = require(config.package_dir);

const pool = Stratum.createPool({
    coin: { name: 'Bitcoin', symbol: 'BTC', algorithm: 'sha256', asicboost: false },
    address: config.address,
    rewardRecipients: {},
    blockRefreshInterval: config.block_refresh_ms || 500,
    jobRebroadcastTimeout: 55,
    connectionTimeout: 600,
    emitInvalidBlockHashes: false,
    tcpProxyProtocol: false,
    banning: { enabled: false },
    p2p: { enabled: false },
    ports: { [config.stratum_port]: { diff: config.difficulty } },
    daemons: [{
        host: '127.0.0.1',
        port: config.rpc.port,
        user: config.rpc.user,
        password: config.rpc.password,
    }],
}, function authorize(ip, port, workerName, password, callback) {
    emit({ event: 'authorize', worker: workerName });
    callback({ error: null, authorized: true, disconnect: false });
});

pool.on('started', function () {
    emit({ event: 'started', port: config.stratum_port });
});

pool.on('share', function (isValidShare, isValidBlock, data) {
    emit({
        event: 'share',
        valid: isValidShare,
        block: isValidBlock,
        worker: data.worker === undefined ? null : data.worker,
        difficulty: data.difficulty === undefined ? null : data.difficulty,
        share_diff: data.shareDiff === undefined ? null : Number(data.shareDiff),
        height: data.height === undefined ? null : data.height,
        job: data.job === undefined ? null : data.job,
        error: data.error === undefined ? null : data.error,
        block_hash: data.blockHash === undefined ? null : data.blockHash,
    });
});

pool.on('log', function (severity, text) {
    if (severity !== 'debug' || config.verbose) {
        process.stderr.write('[' + severity + '] ' + text + '\n');
    }
});

pool.start();
