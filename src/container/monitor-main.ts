/**
 * The monitor of a detached container (`kiln run -d`): started detached by kiln, it runs the
 * container in its own session, appends its output to json.log and records its exit status.
 *   node monitor-main.js ROOT CONTAINER_ID
 */
import { ContainerEngine } from './engine.js';
import { runContainer } from './run.js';

async function monitor(root: string, id: string): Promise<void> {
  const engine = await ContainerEngine.open(root);
  const c = await engine.containers.load(id);
  if (!c) throw new Error(`no such container: ${id}`);
  // SIGTERM/SIGINT to the monitor are not for the container (kiln stop signals the container itself).
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  await runContainer(engine, c, { io: {} });
}

const [root, id] = process.argv.slice(2);
if (!root || !id) {
  process.stderr.write('usage: monitor-main ROOT CONTAINER_ID\n');
  process.exit(2);
}
monitor(root, id).then(
  () => process.exit(0),
  () => process.exit(1),
);
