#!/usr/bin/env node
// The CLI's one bundled file when `npm run build` made it (starts ~100 ms sooner), else the
// compiled modules.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/bundle/kiln.mjs', import.meta.url);
const { main } = await import(existsSync(bundle) ? bundle.href : '../dist/cli/main.js');

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
