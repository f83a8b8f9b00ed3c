// Compiles the Solidity test contracts with solc-js (standard JSON, fixed settings) and writes
// one artifact per contract: { contractName, abi, bytecode, deployedBytecode, compiler,
// sourceSha256 }. The settings pin everything that changes the output (optimizer, EVM version,
// no metadata hash in the bytecode), so the same sources always give the same bytes.
//
// Usage: node compile_contracts.js <npm cache dir> <solidity dir> <output dir>
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const COMPILER = '0.8.37';
const CONTRACTS = ['CloneFactory', 'Implementation'];

function fail(message) {
    process.stderr.write(`compile_contracts: ${message}\n`);
    process.exit(1);
}

const [npmDir, solidityDir, outDir] = process.argv.slice(2);
if (!npmDir || !solidityDir || !outDir) {
    fail('usage: compile_contracts.js <npm cache dir> <solidity dir> <output dir>');
}

const solc = require(path.join(npmDir, 'node_modules', 'solc'));
if (!solc.version().startsWith(`${COMPILER}+`)) {
    fail(`solc-js is ${solc.version()}, expected ${COMPILER}`);
}

// Every .sol file is a source unit named by its file name, so `./Implementation.sol` imports
// resolve without a callback.
const sources = {};
const sourceBytes = {};
for (const file of fs.readdirSync(solidityDir).filter((f) => f.endsWith('.sol')).sort()) {
    sourceBytes[file] = fs.readFileSync(path.join(solidityDir, file));
    sources[file] = { content: sourceBytes[file].toString('utf8') };
}

const input = {
    language: 'Solidity',
    sources,
    settings: {
        optimizer: { enabled: true, runs: 200 },
        evmVersion: 'cancun',
        metadata: { bytecodeHash: 'none', appendCBOR: false },
        outputSelection: {
            '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] },
        },
    },
};

const output = JSON.parse(solc.compile(JSON.stringify(input)));
const problems = output.errors || [];
for (const problem of problems) {
    process.stderr.write(problem.formattedMessage || `${problem.severity}: ${problem.message}\n`);
}
// Warnings fail too: the contracts are small enough to keep clean.
if (problems.length > 0) {
    fail(`${problems.length} error(s) or warning(s)`);
}

fs.mkdirSync(outDir, { recursive: true });
for (const name of CONTRACTS) {
    const file = `${name}.sol`;
    const compiled = output.contracts[file] && output.contracts[file][name];
    if (!compiled) {
        fail(`${file} does not define contract ${name}`);
    }
    const artifact = {
        contractName: name,
        abi: compiled.abi,
        bytecode: `0x${compiled.evm.bytecode.object}`,
        deployedBytecode: `0x${compiled.evm.deployedBytecode.object}`,
        compiler: COMPILER,
        sourceSha256: crypto.createHash('sha256').update(sourceBytes[file]).digest('hex'),
    };
    fs.writeFileSync(path.join(outDir, `${name}.json`), `${JSON.stringify(artifact, null, 2)}\n`);
}
