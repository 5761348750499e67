/**
 * The integer model directory on a file system: model.json and weights.bin read with their sizes
 * checked before anything is allocated, and written under temporary names then renamed (see
 * src/export/format.ts for the format and the order of the renames).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { readUntrusted } from './untrusted.js';
import { basename, dirname, join } from 'node:path';
import { F8Error } from '../runtime/errors.js';
import type { IntGraph } from '../export/graph.js';
import { MODEL_JSON, WEIGHTS_BIN, MAX_JSON_BYTES, MAX_WEIGHTS_BYTES, encodeIntModel as encode, parseIntModelDoc as parseDoc, buildIntGraph as buildGraph, badIntModelInput as badInput } from '../export/format.js';

function writeTemp(file: string, data: Uint8Array): void {
  const fd = openSync(file, 'w');
  try {
    let off = 0;
    while (off < data.byteLength) off += writeSync(fd, data, off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes g to the directory `dir` (created if needed): model.json and weights.bin, each to a
 * temporary name first and renamed into place, so an existing model is never half-written.
 * Validates before writing anything.
 * @example writeIntModel('runs/x/int', g)
 */
export function writeIntModel(dir: string, g: IntGraph): void {
  const { json, bin } = encode(g, `${join(dir, MODEL_JSON)} (not written)`);
  const files = [
    { file: join(dir, WEIGHTS_BIN), data: bin },
    { file: join(dir, MODEL_JSON), data: Buffer.from(json, 'utf8') },
  ].map((f) => ({ ...f, tmp: join(dir, `.${basename(f.file)}.${process.pid}.tmp`) }));
  let current = dir;
  try {
    mkdirSync(dir, { recursive: true });
    for (const f of files) {
      current = f.tmp;
      writeTemp(f.tmp, f.data);
    }
    // weights.bin first: until model.json is replaced, the old model.json's hash refuses the new weights.
    for (const f of files) {
      current = f.file;
      renameSync(f.tmp, f.file);
    }
  } catch (e) {
    for (const f of files) {
      try {
        unlinkSync(f.tmp);
      } catch {
        /* not created, or already renamed */
      }
    }
    throw new F8Error('IO', `${current}: cannot write the integer model: ${(e as Error).message}`);
  }
  try {
    // Make the renames durable; not every platform can open a directory.
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* best effort */
  }
}

// ---------------------------------------------------------------------------------------------
// Reading.

/** Size of a regular file, or a BAD_INPUT error naming what was expected. */
function fileSize(file: string, what: string): number {
  let st;
  try {
    st = statSync(file);
  } catch {
    badInput(file, `missing (${what})`);
  }
  if (!st.isFile()) badInput(file, `is not a regular file (${what})`);
  return st.size;
}

/**
 * Reads an integer model from its directory (or the path of its model.json), checking sizes
 * before reading and the whole graph after.
 * @example const g = readIntModel('runs/x/int');
 */
export function readIntModel(path: string): IntGraph {
  let st;
  try {
    st = statSync(path);
  } catch {
    badInput(path, `no such integer model (expected a directory holding ${MODEL_JSON} and ${WEIGHTS_BIN}, as 'f8net export' writes)`);
  }
  const dir = st.isDirectory() ? path : dirname(path);
  const file = st.isDirectory() ? join(path, MODEL_JSON) : path;
  const binFile = join(dir, WEIGHTS_BIN);
  const jsonSize = fileSize(file, `the graph of an integer model, written by 'f8net export'`);
  if (jsonSize > MAX_JSON_BYTES) badInput(file, `${jsonSize} bytes exceed the ${MAX_JSON_BYTES}-byte limit of model.json`);
  const binSize = fileSize(binFile, `the tensors of ${file}`);
  const p = parseDoc(readUntrusted(file, { what: `the graph of an integer model, written by 'f8net export'`, maxBytes: MAX_JSON_BYTES }), file, binSize, binFile);
  const bin = readUntrusted(binFile, { what: `the tensors of ${file}`, maxBytes: MAX_WEIGHTS_BYTES });
  return buildGraph(p, bin, file, binFile);
}
