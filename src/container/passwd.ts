import { InvalidArgumentError, NotFoundError } from '../diagnostics/errors.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** The home directory from passwd, for HOME. */
  home: string;
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

const isId = (s: string) => /^\d+$/.test(s);

function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || !isId(f[2]!) || !isId(f[3]!)) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! });
  }
  return out;
}

function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || !isId(f[2]!)) continue;
    out.push({ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(',').filter(Boolean) });
  }
  return out;
}

/**
 * Resolve `user[:group]` (names or numbers) the way docker does (moby/sys/user GetExecUser):
 * names come from the image's /etc/passwd and /etc/group; a numeric uid needs no entry;
 * the user's supplementary groups are the groups that list it as a member.
 * `readFile` reads a file of the container's root filesystem, resolved inside it (undefined if absent).
 */
export async function resolveUser(spec: string, readFile: (p: string) => Promise<string | undefined>): Promise<ResolvedUser> {
  const [userPart = '', groupPart] = spec.split(':', 2);
  const passwd = parsePasswd((await readFile('/etc/passwd')) ?? '');
  const groups = parseGroup((await readFile('/etc/group')) ?? '');
  const user = userPart === '' ? passwd.find((p) => p.uid === 0) ?? { name: 'root', uid: 0, gid: 0, home: '/root' } :
    passwd.find((p) => (isId(userPart) ? p.uid === Number(userPart) : p.name === userPart));
  let uid: number;
  let gid: number;
  let home = '/';
  let name: string | undefined;
  if (user) {
    ({ uid, gid, home, name } = user);
  } else if (isId(userPart)) {
    // moby/sys/user: a numeric uid with no passwd entry keeps the default gid 0
    uid = Number(userPart);
    gid = 0;
  } else {
    throw new NotFoundError(`unable to find user ${userPart}: no matching entries in passwd file`, { code: 'CONTAINER_USER_NOT_FOUND' });
  }
  if (groupPart !== undefined && groupPart !== '') {
    const g = groups.find((e) => (isId(groupPart) ? e.gid === Number(groupPart) : e.name === groupPart));
    if (g) gid = g.gid;
    else if (isId(groupPart)) gid = Number(groupPart);
    else throw new NotFoundError(`unable to find group ${groupPart}: no matching entries in group file`, { code: 'CONTAINER_GROUP_NOT_FOUND' });
  }
  if (uid > 0xfffffffe || gid > 0xfffffffe) throw new InvalidArgumentError(`uid/gid out of range in ${spec}`, { code: 'CONTAINER_BAD_USER' });
  const additionalGids = name === undefined ? [] : groups.filter((g) => g.members.includes(name!) && g.gid !== gid).map((g) => g.gid);
  return { uid, gid, additionalGids: [...new Set(additionalGids)], home };
}
