// Build everything `bin/kiln.js` needs: the compiled nearley grammar, the TypeScript
// sources (tsc -> dist/), and the bundled runtime (node-gyp -> build/Release/).
// Steps whose inputs have not changed are skipped, so `npm test` stays quick.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });

function newest(dir, filter = () => true) {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p, filter));
    else if (filter(p)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);

const runtimeOnly = process.argv.includes('--runtime-only');

// 1. nearley grammars: grammar/*.ne -> src/dockerfile/*.generated.ts
if (!runtimeOnly && existsSync(path.join(root, 'grammar'))) {
  for (const f of readdirSync(path.join(root, 'grammar'))) {
    if (!f.endsWith('.ne')) continue;
    const src = path.join(root, 'grammar', f);
    const out = path.join(root, 'src', 'dockerfile', f.replace(/\.ne$/, '.generated.ts'));
    if (mtime(out) < newest(path.join(root, 'grammar'))) run(bin('nearleyc'), [src, '-o', out]);
  }
}

// 2. TypeScript
if (!runtimeOnly) run(bin('tsc'), ['-p', 'tsconfig.json']);

// 3. the bundled runtime (binding.gyp), when its sources changed. The headers of the running
//    Node are used when it ships them (include/node), so no download is needed offline.
if (existsSync(path.join(root, 'binding.gyp'))) {
  const out = path.join(root, 'build', 'Release');
  if (newest(out) < Math.max(newest(path.join(root, 'runtime')), mtime(path.join(root, 'binding.gyp')))) {
    const nodeDir = path.join(path.dirname(process.execPath), '..');
    const nodeDirArgs = existsSync(path.join(nodeDir, 'include', 'node', 'common.gypi')) ? [`--nodedir=${nodeDir}`] : [];
    run(process.execPath, [path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), 'rebuild', ...nodeDirArgs]);
  }
}

// 4. one bundled file for the CLI (dist/bundle/kiln.cjs). Loading ~150 ES modules cost Node about
//    100 ms of resolving and compiling on every command; bin/kiln.js compiles this one file with
//    V8's code cache beside it instead (see there). CommonJS, because Node 20 has a code cache API
//    only for scripts (vm.Script), not for ES modules. bin/kiln.js falls back to dist/cli/main.js
//    when the bundle is missing. The bundle sits two levels below the package root like every
//    dist/<stage>/<file>.js, so paths computed from import.meta.url stay right.
if (!runtimeOnly) {
  const outDir = path.join(root, 'dist', 'bundle');
  const out = path.join(outDir, 'kiln.cjs');
  if (mtime(out) < newest(path.join(root, 'dist'), (p) => !p.startsWith(outDir + path.sep))) {
    let esbuild = null;
    try {
      esbuild = await import('esbuild');
    } catch {
      console.warn('scripts/build.mjs: esbuild is not installed; bin/kiln.js will load dist/cli/main.js (slower start)');
    }
    if (esbuild) {
      rmSync(outDir, { recursive: true, force: true }); // old code caches too
      await esbuild.build({
        entryPoints: [path.join(root, 'dist', 'cli', 'main.js')],
        outfile: out,
        bundle: true,
        platform: 'node',
        format: 'cjs',
        target: 'node20',
        external: ['@napi-rs/xattr'], // a native addon, found in node_modules at run time
        define: { 'import.meta.url': '__kilnModuleUrl' },
        banner: { js: "const __kilnModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
        // less source to read at every start (~7 ms a command); identifiers kept, so stack traces
        // still name functions (run dist/cli/main.js for line numbers)
        minifyWhitespace: true,
        minifySyntax: true,
        logLevel: 'warning',
      });
    }
  }
}
