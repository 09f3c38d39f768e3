import { randomBytes } from 'node:crypto';

// Docker-style generated names: adjective_scientist. A short list is enough to make names readable.
const LEFT = [
  'admiring', 'bold', 'brave', 'busy', 'calm', 'clever', 'cool', 'eager', 'elegant', 'focused',
  'gallant', 'happy', 'jolly', 'keen', 'kind', 'lucid', 'modest', 'nifty', 'quirky', 'serene',
  'sharp', 'stoic', 'tender', 'trusting', 'vibrant', 'wizardly', 'youthful', 'zealous',
];
const RIGHT = [
  'babbage', 'bohr', 'curie', 'darwin', 'dijkstra', 'einstein', 'euler', 'faraday', 'fermi',
  'galileo', 'hopper', 'kepler', 'knuth', 'lamport', 'lovelace', 'maxwell', 'newton', 'noether',
  'pascal', 'ritchie', 'shannon', 'thompson', 'turing', 'wozniak',
];

export function randomName(taken: ReadonlySet<string>): string {
  for (let i = 0; ; i++) {
    const b = randomBytes(2);
    const name = `${LEFT[b[0]! % LEFT.length]}_${RIGHT[b[1]! % RIGHT.length]}${i > 5 ? String(i) : ''}`;
    if (!taken.has(name)) return name;
  }
}

export function randomId(): string {
  return randomBytes(32).toString('hex');
}

/** Docker's container name grammar: [a-zA-Z0-9][a-zA-Z0-9_.-]+ */
export const NAME_PATTERN = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
