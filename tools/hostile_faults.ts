/**
 * Fault tests of issue 17 with counts (docs/HOSTILE.md): kill -9 during checkpoint writes and
 * during export writes, a full disk (a small tmpfs; needs root to mount it), two runs into one
 * folder, and the lock of a killed run. Each trial's outcome is checked, not assumed; the tool
 * prints one table row per fault and exits 1 if any trial went wrong.
 *
 *   node --import tsx tools/hostile_faults.ts [--kills 40] [--pairs 20]
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readSafetensors, writeSafetensors } from '../src/node/safetensors-file.js';
import { writeExportFolder } from '../src/node/out-dir.js';
import { claimRunDir, removeStaleTemps } from '../src/node/run-dir.js';
import { F8Error } from '../src/runtime/errors.js';

const arg = (k: string, d: number): number => {
  const i = process.argv.indexOf(k);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const KILLS = arg('--kills', 40);
const PAIRS = arg('--pairs', 20);
const root = mkdtempSync(join(tmpdir(), 'f8net-faults-'));
const src = (p: string) => JSON.stringify(resolve(p));
const rows: string[] = [];
let failed = false;
const row = (fault: string, trials: number, ok: number, detail: string) => {
  if (ok !== trials) failed = true;
  rows.push(`| ${fault} | ${trials} | ${ok} | ${trials - ok} | ${detail} |`);
};

/** A child running `code` (an ES module body) that prints 'ready' once its loop starts. */
function child(code: string): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
}
const ready = (c: ChildProcess) => new Promise<void>((r) => c.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && r()));
const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.on('exit', () => r())));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Deterministic delays spread over the write loop's phases. */
const delay = (i: number) => (i * 37) % 300;

// ---- kill -9 during checkpoint writes -------------------------------------------------------------
async function killCheckpoints(): Promise<void> {
  const dir = join(root, 'ck');
  mkdirSync(dir);
  const f = join(dir, 'last.safetensors');
  writeSafetensors(f, [{ name: 'w', dtype: 'F32', shape: [4], data: new Float32Array(4).fill(-1) }], { gen: '-1' });
  let intact = 0;
  let leftovers = 0;
  for (let i = 0; i < KILLS; i++) {
    // Generation g writes 2^19 floats equal to g: a torn or mixed file shows.
    const c = child(
      `const { writeSafetensors } = await import(${src('src/node/safetensors-file.ts')});` +
        `console.log('ready'); for (let g = 0; ; g++) writeSafetensors(${JSON.stringify(f)}, [{ name: 'w', dtype: 'F32', shape: [1 << 19], data: new Float32Array(1 << 19).fill(g) }], { gen: String(g) });`,
    );
    await ready(c);
    await sleep(delay(i));
    c.kill('SIGKILL');
    await exited(c);
    try {
      const st = readSafetensors(f);
      const w = st.tensors.get('w')!;
      const v = new Float32Array(w.data.buffer.slice(w.data.byteOffset, w.data.byteOffset + w.data.byteLength));
      const g = Number(st.metadata.gen);
      if (v.every((x) => x === g)) intact++;
    } catch {
      /* torn: counted as not intact */
    }
    leftovers += readdirSync(dir).filter((n) => n.endsWith('.tmp')).length;
    removeStaleTemps(dir);
  }
  const left = readdirSync(dir).filter((n) => n !== 'last.safetensors');
  row('kill -9 during a checkpoint write (2 MiB, killed 0-300 ms into a write loop)', KILLS, left.length ? 0 : intact, `file intact (one generation, every value) after ${intact}; ${leftovers} stale temporaries left by the kills, all removed by the next run's clean-up (${left.length} left)`);
}

// ---- kill -9 during export writes -----------------------------------------------------------------
async function killExports(): Promise<void> {
  const out = join(root, 'exp', 'int');
  const files = (g: number) => [
    { name: 'model.json', data: new TextEncoder().encode(JSON.stringify({ format: 'f8net-int-model', gen: g })) },
    { name: 'weights.bin', data: new Uint8Array(1 << 20).fill(g & 255) },
    { name: 'int_op_only.onnx', data: new Uint8Array(1 << 18).fill(g & 255) },
  ];
  writeExportFolder(out, files(200));
  /** A folder holding one complete export: model.json's gen in every byte of the other two files. */
  const whole = (d: string): boolean => {
    try {
      const g = JSON.parse(readFileSync(join(d, 'model.json'), 'utf8')).gen & 255;
      const names = readdirSync(d).sort().join(',');
      return names === 'int_op_only.onnx,model.json,weights.bin' && ['weights.bin', 'int_op_only.onnx'].every((n) => readFileSync(join(d, n)).every((b) => b === g));
    } catch {
      return false;
    }
  };
  let ok = 0;
  let aside = 0;
  for (let i = 0; i < KILLS; i++) {
    const c = child(
      `const { writeExportFolder } = await import(${src('src/node/out-dir.ts')});` +
        `const files = ${files.toString()};` +
        `console.log('ready'); for (let g = 0; ; g++) writeExportFolder(${JSON.stringify(out)}, files(g));`,
    );
    await ready(c);
    await sleep(delay(i));
    c.kill('SIGKILL');
    await exited(c);
    const parent = join(out, '..');
    // Killed between the two renames, the previous export waits beside it (.int.<pid>.old) and the next export puts it back.
    const olds = readdirSync(parent).filter((n) => n.endsWith('.old'));
    const state = existsSync(out) ? whole(out) : olds.length === 1 && whole(join(parent, olds[0]));
    if (!existsSync(out)) aside++;
    writeExportFolder(out, files(100 + i));
    if (state && whole(out) && readdirSync(parent).length === 1) ok++;
  }
  row('kill -9 during an export write (3 files, 1.3 MiB)', KILLS, ok, `one complete export (new or previous) after every kill; ${aside} kills fell between the two renames and the next export restored the previous one first; no leftovers after the next export`);
}

// ---- a full disk ----------------------------------------------------------------------------------
function diskFull(): void {
  const mnt = join(root, 'full');
  mkdirSync(mnt);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt], { stdio: 'ignore' });
  } catch {
    rows.push('| disk full (tmpfs) | 0 | - | - | not run: mounting a tmpfs needs root |');
    return;
  }
  try {
    const f = join(mnt, 'last.safetensors');
    writeSafetensors(f, [{ name: 'w', dtype: 'F32', shape: [1 << 16], data: new Float32Array(1 << 16).fill(1) }], { gen: 'old' });
    const out = join(mnt, 'int');
    writeExportFolder(out, [{ name: 'model.json', data: new TextEncoder().encode('{"format":"f8net-int-model","gen":"old"}') }, { name: 'weights.bin', data: new Uint8Array(1 << 16) }]);
    let ok = 0;
    const sizes = [5, 6, 8, 12, 16].map((m) => Math.floor(m * 2 ** 18)); // floats: 5 to 16 MiB
    for (const n of sizes) {
      let msg = '';
      try {
        writeSafetensors(f, [{ name: 'w', dtype: 'F32', shape: [n], data: new Float32Array(n).fill(2) }], { gen: 'new' });
      } catch (e) {
        msg = e instanceof F8Error ? e.message : `crash: ${String(e)}`;
      }
      const prev = readSafetensors(f).metadata.gen === 'old';
      if (/ENOSPC/.test(msg) && msg.includes(f) && !msg.includes('\n') && prev && readdirSync(mnt).every((x) => !x.endsWith('.tmp'))) ok++;
      else if (process.env.F8NET_FAULTS_DEBUG) console.log('checkpoint', n, msg, prev, readdirSync(mnt));
      try {
        writeExportFolder(out, [{ name: 'model.json', data: new TextEncoder().encode('{"format":"f8net-int-model","gen":"new"}') }, { name: 'weights.bin', data: new Uint8Array(n * 4) }]);
        msg = 'written';
      } catch (e) {
        msg = e instanceof F8Error ? e.message : `crash: ${String(e)}`;
      }
      const prevExport = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).gen === 'old';
      if (/ENOSPC/.test(msg) && !msg.includes('\n') && prevExport && readdirSync(mnt).sort().join(',') === 'int,last.safetensors') ok++;
      else if (process.env.F8NET_FAULTS_DEBUG) console.log('export', n, msg, prevExport, readdirSync(mnt));
    }
    row('disk full (a 4 MiB tmpfs): checkpoint and export writes of 5-16 MiB', 2 * sizes.length, ok, 'one-line IO error naming the file (ENOSPC); the previous checkpoint and export intact; no temporary left');
  } finally {
    execFileSync('umount', [mnt]);
  }
}

// ---- two runs into one folder ---------------------------------------------------------------------
async function twoRuns(): Promise<void> {
  let refused = 0;
  let elsewhere = 0;
  for (let i = 0; i < PAIRS; i++) {
    for (const existOk of [true, false]) {
      const dir = join(root, `runs-${i}-${existOk}`, 'run');
      mkdirSync(join(dir, '..'), { recursive: true });
      // Both start at once (each waits for the file 'go', made once both are loaded); each claims the
      // folder as a training does, holds it 3 s, and says what it got.
      const go = join(dir, '..', 'go');
      const code =
        `const { claimRunDir } = await import(${src('src/node/run-dir.ts')}); const fs = await import('node:fs');` +
        `console.log('ready'); while (!fs.existsSync(${JSON.stringify(go)})) await new Promise((r) => setTimeout(r, 2));` +
        `try { const c = claimRunDir(${JSON.stringify(dir)}, { existOk: ${existOk} }); fs.writeFileSync(c.dir + '/log.jsonl', String(process.pid)); console.log('GOT ' + c.dir); await new Promise((r) => setTimeout(r, 3000)); }` +
        ` catch (e) { console.log('REFUSED ' + e.message.split('\\n').length + ' ' + e.message); }`;
      const cs = [child(code), child(code)];
      const outs = cs.map((c) => {
        let s = '';
        c.stdout!.on('data', (d: Buffer) => (s += d.toString()));
        return () => s;
      });
      await Promise.all(cs.map(ready));
      writeFileSync(go, '');
      await Promise.all(cs.map(exited));
      const got = outs.map((o) => o());
      const dirs = got.map((s) => /GOT (.*)/.exec(s)?.[1]).filter(Boolean);
      if (existOk) {
        // One run gets the folder, the other is refused with one line naming it.
        if (dirs.length === 1 && got.some((s) => /REFUSED 1 log_dir .*: in use by another run/.test(s))) refused++;
        else console.log(`trial ${i}: ${JSON.stringify(got)}`);
      } else if (dirs.length === 2 && new Set(dirs).size === 2 && dirs.every((d) => readFileSync(join(d!, 'log.jsonl'), 'utf8').length > 0)) elsewhere++;
    }
  }
  row('two runs started together into one folder, exist_ok=true', PAIRS, refused, 'one run gets the folder, the other is refused with one line naming the lock');
  row('two runs started together into one folder, exist_ok=false', PAIRS, elsewhere, 'the second takes the next free name (run-2): two folders, one log each');
  // The lock of a killed run is stale: the next run takes it over.
  let taken = 0;
  for (let i = 0; i < Math.min(PAIRS, 10); i++) {
    const dir = join(root, `stale-${i}`);
    const c = child(`const { claimRunDir } = await import(${src('src/node/run-dir.ts')}); claimRunDir(${JSON.stringify(dir)}, { existOk: true }); console.log('ready'); setInterval(() => {}, 1000);`);
    await ready(c);
    c.kill('SIGKILL');
    await exited(c);
    const r = claimRunDir(dir, { existOk: true });
    if (r.staleLock === c.pid) taken++;
  }
  row('a run killed with -9 while holding its folder', Math.min(PAIRS, 10), taken, "the next run takes the dead process's lock over (and says so)");
}

await killCheckpoints();
await killExports();
diskFull();
await twoRuns();
rmSync(root, { recursive: true, force: true });
process.stdout.write(`| fault | trials | as required | not | what was checked |\n|---|---|---|---|---|\n${rows.join('\n')}\n`);
process.exit(failed ? 1 : 0);
