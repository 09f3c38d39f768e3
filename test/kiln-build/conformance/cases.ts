/**
 * The build conformance table: Dockerfile + context in, facts about the result out.
 *
 * Expectations are written from the Dockerfile reference and BuildKit's documented behaviour
 * (COPY/ADD semantics, ownership, modes, image config); this machine has no docker daemon to
 * record them from BuildKit (see ./README.md for the re-recording plan). Paths not listed are
 * not checked; `absent: true` asserts a path does not exist in the final filesystem.
 */
export interface PathFact {
  type?: 'file' | 'dir' | 'symlink';
  /** permission bits, e.g. 0o644 */
  mode?: number;
  uid?: number;
  gid?: number;
  content?: string;
  link?: string;
  absent?: true;
}

export interface Case {
  name: string;
  dockerfile: string;
  files?: Record<string, string | { mode?: number; data?: string; link?: string }>;
  /** Shell commands run in the context dir before the build (archives, permissions). */
  setup?: string;
  args?: string[];
  paths?: Record<string, PathFact>;
  /** Partial match against the image config's `config`. */
  config?: Record<string, unknown>;
  /** Env entries that must be present / absent (NAME=value / NAME). */
  envHas?: string[];
  envLacks?: string[];
  /** Number of layers the image gets on top of the base image. */
  newLayers?: number;
  /** The build must fail with this code. */
  failCode?: string;
}

const A = { 'a.txt': 'A\n', 'b.txt': 'B\n' };
const DIR = { 'dir/one': '1\n', 'dir/sub/two': '2\n', 'dir/link-one': { link: 'one' }, 'dir/x.log': 'log\n' };

export const cases: Case[] = [
  { name: 'copy-file-to-new-path', dockerfile: 'FROM busybox\nCOPY a.txt /new\n', files: A, paths: { '/new': { type: 'file', mode: 0o644, uid: 0, gid: 0, content: 'A\n' } }, newLayers: 1 },
  { name: 'copy-into-dir-trailing-slash', dockerfile: 'FROM busybox\nCOPY a.txt /made/for/me/\n', files: A, paths: { '/made/for/me/a.txt': { content: 'A\n' }, '/made/for': { type: 'dir', mode: 0o755 } } },
  { name: 'copy-file-onto-existing-dir', dockerfile: 'FROM busybox\nCOPY a.txt /tmp\n', files: A, paths: { '/tmp/a.txt': { content: 'A\n' }, '/tmp': { type: 'dir', mode: 0o1777 } } },
  { name: 'copy-dir-copies-contents', dockerfile: 'FROM busybox\nCOPY dir /d\n', files: DIR, paths: { '/d/one': { content: '1\n' }, '/d/sub/two': { content: '2\n' }, '/d/dir': { absent: true } } },
  { name: 'copy-dir-trailing-slash-source', dockerfile: 'FROM busybox\nCOPY dir/ /d2\n', files: DIR, paths: { '/d2/one': { content: '1\n' }, '/d2/sub': { type: 'dir' } } },
  { name: 'copy-keeps-nested-symlinks', dockerfile: 'FROM busybox\nCOPY dir /d\n', files: DIR, paths: { '/d/link-one': { type: 'symlink', link: 'one' } } },
  { name: 'copy-wildcard', dockerfile: 'FROM busybox\nCOPY *.txt /w/\n', files: A, paths: { '/w/a.txt': { content: 'A\n' }, '/w/b.txt': { content: 'B\n' } } },
  { name: 'copy-wildcard-follows-matched-symlink', dockerfile: 'FROM busybox\nCOPY ln* /s/\n', files: { ...A, 'ln-a': { link: 'a.txt' } }, paths: { '/s/ln-a': { type: 'file', content: 'A\n' } } },
  { name: 'copy-named-symlink-is-followed', dockerfile: 'FROM busybox\nCOPY ln-a /f\n', files: { ...A, 'ln-a': { link: 'a.txt' } }, paths: { '/f': { type: 'file', content: 'A\n' } } },
  { name: 'copy-symlink-cannot-escape-context', dockerfile: 'FROM busybox\nCOPY evil /x\n', files: { evil: { link: '/etc/passwd' } }, failCode: 'CONTEXT_NOT_FOUND' },
  { name: 'copy-multiple-sources', dockerfile: 'FROM busybox\nCOPY a.txt b.txt /m/\n', files: A, paths: { '/m/a.txt': { content: 'A\n' }, '/m/b.txt': { content: 'B\n' } } },
  { name: 'copy-relative-dest-uses-workdir', dockerfile: 'FROM busybox\nWORKDIR /w\nCOPY a.txt .\nCOPY b.txt sub/\n', files: A, paths: { '/w/a.txt': { content: 'A\n' }, '/w/sub/b.txt': { content: 'B\n' } } },
  { name: 'copy-dest-env-expansion', dockerfile: 'FROM busybox\nENV D=/dd\nCOPY a.txt $D/\n', files: A, paths: { '/dd/a.txt': { content: 'A\n' } } },
  { name: 'copy-context-files-owned-by-root', dockerfile: 'FROM busybox\nCOPY owned.txt /o\n', files: { 'owned.txt': 'o' }, setup: 'chown 1234:4321 owned.txt', paths: { '/o': { uid: 0, gid: 0 } } },
  { name: 'copy-preserves-mode', dockerfile: 'FROM busybox\nCOPY tool.sh /usr/local/bin/\n', files: { 'tool.sh': { mode: 0o755, data: '#!/bin/sh\n' } }, paths: { '/usr/local/bin/tool.sh': { mode: 0o755 } } },
  { name: 'copy-chown-numeric', dockerfile: 'FROM busybox\nCOPY --chown=42:43 a.txt /c/\n', files: A, paths: { '/c/a.txt': { uid: 42, gid: 43 }, '/c': { uid: 42, gid: 43 } } },
  {
    name: 'copy-chown-names-from-target-passwd',
    dockerfile: 'FROM busybox\nRUN echo "app:x:1000:1001::/home/app:/bin/sh" >> /etc/passwd && echo "appg:x:1001:" >> /etc/group\nCOPY --chown=app:appg a.txt /o/\n',
    files: A,
    paths: { '/o/a.txt': { uid: 1000, gid: 1001 } },
  },
  { name: 'copy-chown-unknown-user-fails', dockerfile: 'FROM busybox\nCOPY --chown=nobody-here a.txt /o/\n', files: A, failCode: 'CONTAINER_USER_NOT_FOUND' },
  { name: 'copy-chmod-octal', dockerfile: 'FROM busybox\nCOPY --chmod=0750 a.txt /p\n', files: A, paths: { '/p': { mode: 0o750 } } },
  { name: 'copy-chmod-symbolic', dockerfile: '# syntax=docker/dockerfile:1.14\nFROM busybox\nCOPY --chmod=u+x,go-r a.txt /p\n', files: A, paths: { '/p': { mode: 0o700 } } },
  { name: 'copy-exclude', dockerfile: '# syntax=docker/dockerfile:1.7-labs\nFROM busybox\nCOPY --exclude=*.log dir /e\n', files: DIR, paths: { '/e/one': { content: '1\n' }, '/e/x.log': { absent: true } } },
  { name: 'copy-dockerignore', dockerfile: 'FROM busybox\nCOPY . /ctx\n', files: { ...A, '.dockerignore': 'b.txt\n*.secret\n', 'k.secret': 's' }, paths: { '/ctx/a.txt': { content: 'A\n' }, '/ctx/b.txt': { absent: true }, '/ctx/k.secret': { absent: true }, '/ctx/Dockerfile': { type: 'file' } } },
  { name: 'copy-heredoc-expands-args', dockerfile: 'FROM busybox\nARG FOO=abc\nCOPY <<EOF /h.txt\nhello ${FOO}\nEOF\n', paths: { '/h.txt': { content: 'hello abc\n', mode: 0o644 } } },
  { name: 'copy-heredoc-quoted-is-literal', dockerfile: 'FROM busybox\nARG FOO=abc\nCOPY <<"EOF" /q.txt\nhello ${FOO}\nEOF\n', paths: { '/q.txt': { content: 'hello ${FOO}\n' } } },
  { name: 'copy-link', dockerfile: 'FROM busybox\nCOPY --link a.txt /l.txt\nRUN cat /l.txt > /l2\n', files: A, paths: { '/l.txt': { content: 'A\n' }, '/l2': { content: 'A\n' } } },
  {
    name: 'copy-from-stage-keeps-owner',
    dockerfile: 'FROM busybox AS builder\nRUN mkdir /out && echo built > /out/f && chown 5:6 /out/f && chmod 600 /out/f\nFROM busybox\nCOPY --from=builder /out/f /f\n',
    paths: { '/f': { content: 'built\n', uid: 5, gid: 6, mode: 0o600 } },
  },
  { name: 'copy-from-stage-index', dockerfile: 'FROM busybox\nRUN echo zero > /z\nFROM busybox\nCOPY --from=0 /z /z\n', paths: { '/z': { content: 'zero\n' } } },
  { name: 'copy-from-image', dockerfile: 'FROM busybox AS s\nFROM scratch\nCOPY --from=busybox /etc/passwd /passwd\n', paths: { '/passwd': { type: 'file' } } },
  { name: 'add-local-tar-gz-is-unpacked', dockerfile: 'FROM busybox\nADD pack.tgz /x/\n', files: { 'p/inner.txt': 'in\n' }, setup: 'tar -czf pack.tgz -C p inner.txt', paths: { '/x/inner.txt': { content: 'in\n' }, '/x/pack.tgz': { absent: true } } },
  { name: 'add-archive-detected-by-content', dockerfile: 'FROM busybox\nADD data.bin /y/\n', files: { 'p/i2.txt': 'i2\n' }, setup: 'tar -cf data.bin -C p i2.txt', paths: { '/y/i2.txt': { content: 'i2\n' } } },
  { name: 'add-plain-file', dockerfile: 'FROM busybox\nADD a.txt /added\n', files: A, paths: { '/added': { content: 'A\n', uid: 0 } } },
  { name: 'workdir-creates-dirs', dockerfile: 'FROM busybox\nWORKDIR /a/b/c\nRUN pwd > /pwd\n', paths: { '/a/b/c': { type: 'dir', mode: 0o755 }, '/pwd': { content: '/a/b/c\n' } }, config: { WorkingDir: '/a/b/c' } },
  { name: 'workdir-relative', dockerfile: 'FROM busybox\nWORKDIR /a\nWORKDIR b\nRUN pwd > /pwd\n', paths: { '/pwd': { content: '/a/b\n' } }, config: { WorkingDir: '/a/b' } },
  { name: 'env-visible-in-run-and-config', dockerfile: 'FROM busybox\nENV X=1 Y="two words"\nRUN echo "$X $Y" > /x\n', paths: { '/x': { content: '1 two words\n' } }, envHas: ['X=1', 'Y=two words'] },
  { name: 'arg-in-run-not-in-config', dockerfile: 'FROM busybox\nARG A=default\nRUN echo $A > /a\n', paths: { '/a': { content: 'default\n' } }, envLacks: ['A'] },
  { name: 'build-arg-overrides', dockerfile: 'FROM busybox\nARG A=default\nRUN echo $A > /a\n', args: ['--build-arg', 'A=given'], paths: { '/a': { content: 'given\n' } } },
  { name: 'global-arg-in-from', dockerfile: 'ARG BASE=busybox\nFROM ${BASE}\nRUN echo ok > /ok\n', paths: { '/ok': { content: 'ok\n' } } },
  { name: 'user-applies-to-run', dockerfile: 'FROM busybox\nRUN mkdir /home/u && chown 1000:1000 /home/u\nUSER 1000:1000\nRUN id -u > /home/u/id && touch /home/u/mine\n', paths: { '/home/u/id': { content: '1000\n' }, '/home/u/mine': { uid: 1000, gid: 1000 } }, config: { User: '1000:1000' } },
  { name: 'shell-instruction', dockerfile: 'FROM busybox\nSHELL ["/bin/sh", "-ec"]\nRUN echo ok > /ok\n', paths: { '/ok': { content: 'ok\n' } }, config: { Shell: ['/bin/sh', '-ec'] } },
  { name: 'run-exec-form', dockerfile: 'FROM busybox\nRUN ["/bin/sh", "-c", "echo exec > /e"]\n', paths: { '/e': { content: 'exec\n' } } },
  { name: 'run-heredoc', dockerfile: 'FROM busybox\nRUN <<EOF\necho one > /h1\necho two >> /h1\nEOF\n', paths: { '/h1': { content: 'one\ntwo\n' } } },
  { name: 'run-heredoc-shebang', dockerfile: 'FROM busybox\nRUN <<EOF\n#!/bin/sh\necho shebang > /sb\nEOF\n', paths: { '/sb': { content: 'shebang\n' } } },
  { name: 'run-delete-is-a-whiteout', dockerfile: 'FROM busybox\nRUN rm /etc/group && rm -r /home\n', paths: { '/etc/group': { absent: true }, '/home': { absent: true }, '/etc/passwd': { type: 'file' } } },
  { name: 'run-tmpfs-mount-discarded', dockerfile: 'FROM busybox\nRUN --mount=type=tmpfs,target=/scratch touch /scratch/x && echo ok > /t\n', paths: { '/scratch/x': { absent: true }, '/t': { content: 'ok\n' } } },
  { name: 'run-bind-mount-context', dockerfile: 'FROM busybox\nRUN --mount=type=bind,source=a.txt,target=/m cat /m > /copied\n', files: A, paths: { '/copied': { content: 'A\n' }, '/m': { type: 'file' } } },
  { name: 'run-bind-mount-stage', dockerfile: 'FROM busybox AS b\nRUN mkdir /out && echo fromstage > /out/v\nFROM busybox\nRUN --mount=type=bind,from=b,source=/out,target=/in cat /in/v > /got\n', paths: { '/got': { content: 'fromstage\n' }, '/in/v': { absent: true } } },
  { name: 'run-cache-mount-not-in-layer', dockerfile: 'FROM busybox\nRUN --mount=type=cache,target=/c,id=conformance-cache touch /c/x && echo done > /d\n', paths: { '/c/x': { absent: true }, '/d': { content: 'done\n' } } },
  { name: 'run-network-none', dockerfile: 'FROM busybox\nRUN --network=none grep -c : /proc/net/dev > /ifaces\n', paths: { '/ifaces': { content: '1\n' } } },
  { name: 'run-failure-fails-build', dockerfile: 'FROM busybox\nRUN exit 5\n', failCode: 'SOLVE_EXEC_FAILED' },
  { name: 'unreachable-broken-stage-is-skipped', dockerfile: 'FROM busybox AS broken\nRUN exit 9\nFROM busybox\nRUN echo fine > /fine\n', paths: { '/fine': { content: 'fine\n' } } },
  { name: 'target-stage', dockerfile: 'FROM busybox AS one\nRUN echo one > /which\nFROM busybox AS two\nRUN echo two > /which\n', args: ['--target', 'one'], paths: { '/which': { content: 'one\n' } } },
  // docker 20.10's BuildKit keeps the empty layer of a RUN that changed nothing (recorded)
  { name: 'no-op-run-keeps-an-empty-layer', dockerfile: 'FROM busybox\nRUN true\nRUN echo x > /x\n', newLayers: 2 },
  { name: 'run-has-home', dockerfile: 'FROM busybox\nRUN echo "$HOME" > /home.txt\n', paths: { '/home.txt': { content: '/root\n' } } },
  { name: 'copy-chown-uid-only-sets-gid', dockerfile: 'FROM busybox\nCOPY --chown=1000 a.txt /u\n', files: A, paths: { '/u': { uid: 1000, gid: 1000 } } },
  {
    name: 'dockerignore-reinclude-inside-excluded-dir',
    dockerfile: 'FROM busybox\nCOPY . /ctx/\nCOPY dir /dir/\n',
    files: { '.dockerignore': 'build\n!build/dist\ndir\n!dir/keep\n', 'build/dist/out': 'o', 'build/obj': 'x', 'dir/keep': 'k', 'dir/drop': 'd' },
    paths: { '/ctx/build/dist/out': { content: 'o' }, '/ctx/build/obj': { absent: true }, '/dir/keep': { content: 'k' }, '/dir/drop': { absent: true } },
  },
  {
    name: 'run-rw-bind-of-context-leaves-it-untouched',
    dockerfile: 'FROM busybox\nRUN --mount=type=bind,target=/c,rw echo x > /c/written\nRUN --mount=target=/c2 ls /c2 > /listing\n',
    files: A,
    paths: { '/listing': { content: 'Dockerfile\na.txt\nb.txt\n' } },
  },
  {
    name: 'image-config-metadata',
    dockerfile:
      'FROM busybox\nLABEL a=b "c d"=e\nEXPOSE 80 53/udp\nVOLUME /data\nSTOPSIGNAL SIGINT\nWORKDIR /srv\nENTRYPOINT ["/bin/sh", "-c"]\nCMD ["echo hi"]\n',
    config: {
      Labels: { a: 'b', 'c d': 'e' },
      ExposedPorts: { '80/tcp': {}, '53/udp': {} },
      Volumes: { '/data': {} },
      StopSignal: 'SIGINT',
      WorkingDir: '/srv',
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: ['echo hi'],
    },
  },
  { name: 'cmd-shell-form', dockerfile: 'FROM busybox\nCMD echo hello\n', config: { Cmd: ['/bin/sh', '-c', 'echo hello'] } },
  { name: 'healthcheck', dockerfile: 'FROM busybox\nHEALTHCHECK --interval=5s --retries=2 CMD true\n', config: { Healthcheck: { Test: ['CMD-SHELL', 'true'], Interval: 5_000_000_000, Retries: 2 } } },
  { name: 'label-flag', dockerfile: 'FROM busybox\n', args: ['--label', 'from.flag=yes'], config: { Labels: { 'from.flag': 'yes' } } },
  { name: 'from-scratch-copy', dockerfile: 'FROM scratch\nCOPY a.txt /a\n', files: A, paths: { '/a': { content: 'A\n' } }, newLayers: 1 },
];
