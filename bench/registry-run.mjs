// `node bench/registry-run.mjs push|pull ROOT NAME`: kiln's pushImage/pullImage (what `kiln push -q` /
// `kiln pull -q` run) in a fresh process, without loading every CLI command module.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { pullImage, pushImage } = await import(path.join(repoRoot, 'dist', 'registry', 'index.js'));
const [op, root, name] = process.argv.slice(2);
if (op === 'push') await pushImage(name, { root });
else if (op === 'pull') await pullImage(name, { root });
else {
  console.error('usage: registry-run.mjs push|pull ROOT NAME');
  process.exit(2);
}
