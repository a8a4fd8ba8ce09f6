#!/usr/bin/env node
'use strict';
// Thin launcher for the compiled CLI (npm run build produces dist/).
const { runCli } = require('../dist/src/cli/main.js');
runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
