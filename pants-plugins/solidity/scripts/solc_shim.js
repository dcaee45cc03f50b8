#!/usr/bin/env node
// A `solc` command line for py-solc-x over the official solcjs build (npm `solc`).
//
// The solcjs CLI cannot be driven by py-solc-x: it prints a notice before its JSON and has
// no --combined-json. This answers the two calls py-solc-x makes, the way native solc does:
//   --version                       "Version: <version>" on stdout
//   --standard-json [--base-path B] [--include-path I]... [--allow-paths ...]
//                                   standard JSON on stdin, JSON only on stdout; imports
//                                   resolve against B and then each I, never outside them.
// `solc` itself is found through NODE_PATH.
'use strict';

const fs = require('fs');
const path = require('path');
const solc = require('solc');

function parseArgs(argv) {
  const options = { version: false, standardJson: false, basePath: process.cwd(), includePaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--version') options.version = true;
    else if (arg === '--standard-json') options.standardJson = true;
    else if (arg === '--base-path') options.basePath = path.resolve(argv[++i]);
    else if (arg === '--include-path') options.includePaths.push(path.resolve(argv[++i]));
    else if (arg === '--allow-paths') i++; // imports never leave the base and include paths
    else {
      process.stderr.write(`unrecognised option '${arg}'\n`);
      process.exit(1);
    }
  }
  return options;
}

function importResolver(roots) {
  return (sourceUnitName) => {
    for (const root of roots) {
      const candidate = path.resolve(root, sourceUnitName);
      if (!candidate.startsWith(root + path.sep)) continue;
      if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, 'utf8') };
    }
    return { error: `File not found: ${sourceUnitName} (searched ${roots.join(', ')})` };
  };
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  if (options.version) {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  if (!options.standardJson) {
    process.stderr.write('only --version and --standard-json are supported\n');
    process.exit(1);
  }
  const input = fs.readFileSync(0, 'utf8');
  const roots = [options.basePath, ...options.includePaths];
  process.stdout.write(solc.compile(input, { import: importResolver(roots) }));
}

main();
