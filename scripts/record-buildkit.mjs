#!/usr/bin/env node
// Re-records test/conformance/cases/*/expected.json from BuildKit (the one embedded in Debian's
// docker.io 20.10). Only this script needs dockerd; the test (test/conformance/buildkit.test.ts)
// compares kiln against the recordings without it.
//
//   apt-get install docker.io                  # once; not needed by CI
//   node scripts/record-buildkit.mjs           # every case not marked handWritten
//   node scripts/record-buildkit.mjs copy-file run-mount-cache   # just these
//
// It starts `dockerd --iptables=false --bridge=none` when none answers (and stops it at the end),
// imports the busybox root filesystem from scripts/busybox-rootfs.sh as busybox:latest (the same
// tarball the test `kiln import`s), builds each case with `DOCKER_BUILDKIT=1 docker build
// --network=host`, and records (a) the final root filesystem from `docker create` + `docker export`
// (extracted as root with owners kept, then described by test/conformance/tree.mjs) and (b) the
// image config from `docker save` (the raw config blob BuildKit wrote, with its history).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { caseBuildFlags, describeConfig, describeTree, formatExpected, readCaseOptions, stageContext } from '../test/conformance/tree.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const casesDir = path.join(repo, 'test/conformance/cases');
const DOCKER = process.env.DOCKER ?? '/usr/bin/docker';

function die(msg) {
  console.error(`record-buildkit: ${msg}`);
  process.exit(1);
}

function docker(args, opts = {}) {
  return execFileSync(DOCKER, args, { maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'], ...opts });
}

async function ensureDockerd() {
  if (!existsSync(DOCKER)) die(`${DOCKER} not found: apt-get install docker.io (or set DOCKER=)`);
  if (spawnSync(DOCKER, ['info'], { stdio: 'ignore' }).status === 0) return undefined;
  if (process.getuid?.() !== 0) die('dockerd is not running and starting it needs root');
  console.error('record-buildkit: starting dockerd --iptables=false --bridge=none');
  const log = path.join(os.tmpdir(), 'record-buildkit-dockerd.log');
  const fd = openSync(log, 'w');
  const child = spawn('dockerd', ['--iptables=false', '--bridge=none'], { stdio: ['ignore', fd, fd] });
  for (let i = 0; i < 60; i++) {
    await new Promise((r) => setTimeout(r, 500));
    if (spawnSync(DOCKER, ['info'], { stdio: 'ignore' }).status === 0) return child;
  }
  child.kill();
  die(`dockerd did not come up (see ${log})`);
}

function dockerVersion() {
  return docker(['version', '--format', '{{.Server.Version}}']).toString().trim();
}

/** The raw image config (as BuildKit wrote it) from `docker save`. */
function rawConfig(image, tmp) {
  const ins = JSON.parse(docker(['image', 'inspect', image]).toString())[0];
  if (ins.RootFS.Layers?.length ?? 0) return savedConfig(image, tmp);
  // docker 20.10's `docker save` refuses an image without layers (its error says "empty export -
  // not implemented"): build the same fields from the inspect above and `docker history` (every
  // entry is an empty layer).
  const created = docker(['history', '--no-trunc', '--format', '{{json .CreatedBy}}', image]).toString().trim().split('\n').map((l) => JSON.parse(l));
  return {
    config: ins.Config,
    author: ins.Author,
    architecture: ins.Architecture,
    os: ins.Os,
    rootfs: { diff_ids: [] },
    history: created.reverse().map((c) => ({ created_by: c, empty_layer: true })),
  };
}

function savedConfig(image, tmp) {
  const dir = path.join(tmp, 'save');
  mkdirSync(dir);
  const tar = docker(['save', image]);
  execFileSync('tar', ['-x', '-C', dir], { input: tar, maxBuffer: 1 << 30 });
  const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  return JSON.parse(readFileSync(path.join(dir, manifest[0].Config), 'utf8'));
}

/** The container's root filesystem, extracted with owners and modes kept. */
function rootfs(image, tmp) {
  const dir = path.join(tmp, 'rootfs');
  mkdirSync(dir);
  const id = docker(['create', image, '/conformance-never-runs']).toString().trim();
  try {
    const tar = docker(['export', id]);
    execFileSync('tar', ['-x', '-p', '--numeric-owner', '--same-owner', '-C', dir], { input: tar, maxBuffer: 1 << 30 });
  } finally {
    docker(['rm', '-f', id]);
  }
  return describeTree(dir);
}

function record(name, version) {
  const caseDir = path.join(casesDir, name);
  const opts = readCaseOptions(caseDir);
  if (opts.handWritten) {
    console.error(`${name}: expectations written by hand (feature newer than this BuildKit), skipped`);
    return;
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), `record-${name}-`));
  try {
    const ctx = path.join(tmp, 'context');
    stageContext(caseDir, ctx);
    const image = `kiln-conformance/${name}:latest`;
    const args = ['build', '--network=host', '--progress=plain', '-t', image];
    args.push(...caseBuildFlags(opts, tmp));
    args.push(ctx);
    // images the case builds FROM: built first from another Dockerfile in the same context
    for (const pre of opts.prebuild ?? []) {
      const r = spawnSync(DOCKER, ['build', '--network=host', '-f', path.join(ctx, pre.dockerfile), '-t', pre.tag, ctx], { env: { ...process.env, DOCKER_BUILDKIT: '1' }, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`prebuild ${pre.dockerfile}: ${r.stderr}`);
    }
    const res = spawnSync(DOCKER, args, { env: { ...process.env, DOCKER_BUILDKIT: '1' }, encoding: 'utf8', maxBuffer: 1 << 28 });
    const recordedWith = `docker ${version} (BuildKit, DOCKER_BUILDKIT=1 docker build --network=host)`;
    let expected;
    if (res.status !== 0) {
      const lines = res.stderr.trim().split('\n');
      const error = lines.filter((l) => /error|failed/i.test(l)).slice(-1)[0] ?? lines.slice(-1)[0];
      expected = { recordedWith, fails: true, error };
      console.error(`${name}: build FAILS (recorded): ${error}`);
    } else {
      expected = { recordedWith, image: describeConfig(rawConfig(image, tmp)), fs: rootfs(image, tmp) };
      docker(['rmi', image]);
      for (const pre of opts.prebuild ?? []) docker(['rmi', pre.tag]);
      console.error(`${name}: recorded ${Object.keys(expected.fs).length} paths, ${expected.image.layers} layers`);
    }
    writeFileSync(path.join(caseDir, 'expected.json'), formatExpected(expected));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const started = await ensureDockerd();
try {
  const version = dockerVersion();
  console.error(`record-buildkit: docker ${version}; importing busybox:latest from scripts/busybox-rootfs.sh`);
  const tar = execFileSync('bash', [path.join(repo, 'scripts/busybox-rootfs.sh'), '-'], { maxBuffer: 1 << 28 });
  docker(['import', '-', 'busybox:latest'], { input: tar });
  const names = process.argv.slice(2).length ? process.argv.slice(2) : readdirSync(casesDir).sort();
  let failed = 0;
  for (const n of names) {
    if (!existsSync(path.join(casesDir, n, 'Dockerfile'))) die(`no case ${n}`);
    try {
      record(n, version);
    } catch (err) {
      failed++;
      console.error(`${n}: NOT RECORDED: ${err.stderr?.toString().trim() || err.message}`);
    }
  }
  if (failed) process.exitCode = 1;
} finally {
  if (started) {
    started.kill(); // SIGTERM: dockerd stops its containerd and exits
    await new Promise((r) => started.once('exit', r));
  }
}
