#!/usr/bin/env node
// Starts the CLI from its one-file bundle (dist/bundle/kiln.cjs, made by `npm run build`), compiled
// with V8's code cache kept beside it: compiling ~1 MB of JavaScript anew cost every command ~60 ms.
// One cache per subcommand (it holds the functions that command compiled, so `kiln build` does not
// live on a cache `kiln --version` made), written by the first successful run of it, named after
// the bundle's size and mtime (V8 itself checks little more than the length), and ignored when V8
// rejects it. A read-only install skips it.
// Without the bundle, the compiled modules in dist/ are loaded.
// This file is CommonJS (bin/package.json): an ES module entry made Node set up its ES module loader
// first, ~7 ms of every command.
'use strict';
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const vm = require('node:vm');

const { createRequire } = Module;
const bundle = path.join(__dirname, '..', 'dist', 'bundle', 'kiln.cjs');

/** The subcommand's name (the first word that is not a flag or a flag's value), for the cache's name. */
function commandName(args) {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--root') i++; // the one global option with a value (src/cli/main.ts)
    else if (!a.startsWith('-')) return /^[a-z][a-z-]{0,30}$/.test(a) ? a : 'other';
  }
  return 'none';
}

function loadBundle(file) {
  const st = fs.statSync(file);
  const cacheFile = path.join(path.dirname(file), `.kiln.cjs.${st.size}-${Math.trunc(st.mtimeMs)}.${commandName(process.argv.slice(2))}.v8cache`);
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(Module.wrap(fs.readFileSync(file, 'utf8')), { filename: file, cachedData });
  if (cachedData === undefined || script.cachedDataRejected) {
    // at exit, so the cache also holds the functions this command compiled lazily; only from a
    // run that succeeded (a usage error compiles next to nothing of the command)
    process.once('exit', (code) => {
      if (code !== 0) return;
      try {
        fs.accessSync(path.dirname(file), fs.constants.W_OK);
        const tmp = `${cacheFile}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, script.createCachedData());
        fs.renameSync(tmp, cacheFile);
      } catch {
        // a read-only install: every command compiles from source
      }
    });
  }
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, createRequire(file), mod, file, path.dirname(file));
  return mod.exports;
}

const loaded = fs.existsSync(bundle) ? Promise.resolve(loadBundle(bundle)) : import('../dist/cli/main.js');

// Exit as soon as the command is done: left to itself, Node frees its heap page by page before it
// exits (~30 ms after a build). Nothing is cut short: main() has awaited the command's work, stdout
// and stderr are synchronous on Linux (files, pipes, terminals), 'exit' handlers (the code cache
// above) still run, and what outlives a command (a container's monitor) is a detached process.
loaded.then(({ main }) => main(process.argv.slice(2))).then((code) => process.exit(code));
