/**
 * Diagnostic (reads back after every step, so it is not part of training): how often a layer's
 * batch input length differs from its rounded running length after the step's update, i.e. how
 * often the fix scaling used to differ from the one F8NET.md §3 prescribes.
 *
 *   npx tsx tools/fl_flips.ts <config.yml> <steps> [--set key=value ...]
 */
import '../src/node/register.js';
import { loadConfig } from '../src/node/config-file.js';
import { loadDataAsync, inputShape } from '../src/data/sources.js';
import { modelFromConfig } from '../src/node/trainer.js';
import { loadCheckpoint } from '../src/node/checkpoint-files.js';
import { BatchLoader } from '../src/data/loader.js';
import { Rng, mixSeed } from '../src/runtime/rng.js';
import { SGD } from '../src/optim/sgd.js';
import { Engine } from '../src/runtime/engine.js';
import { Tensor } from '../src/tensor.js';
import { backward } from '../src/autograd/tape.js';
import { normalizeImages } from '../src/ops/image.js';
import { softmaxCrossEntropy } from '../src/ops/loss.js';
import { QLayer } from '../src/nn/qlayers.js';
import { roundHalfEven } from '../src/quant/fixed-format.js';

const [file, stepsArg, ...rest] = process.argv.slice(2);
const sets: string[] = [];
for (let i = 0; i < rest.length; i++) if (rest[i] === '--set') sets.push(rest[++i]);
const cfg = loadConfig(file, sets);
const engine = await Engine.open();
const data = await loadDataAsync(cfg);
const [ch, ih, iw] = inputShape(data);
const model = modelFromConfig(cfg, data);
if (cfg.fp_pretrained_file) model.loadStateDict(loadCheckpoint(cfg.fp_pretrained_file).model, { source: cfg.fp_pretrained_file, strict: false });
const layers = model.namedModules().filter(([, m]) => m instanceof QLayer) as [string, QLayer][];
const loader = new BatchLoader(data.train, { batchSize: cfg.batch_size, shuffle: true, dropLast: true, rng: new Rng(mixSeed(cfg.random_seed, 0xda7a)), sampleTransform: data.trainTransform });
const opt = new SGD(model.parameters(), { lr: cfg.lr, momentum: cfg.momentum, nesterov: cfg.nesterov, weightDecay: cfg.weight_decay });
model.train();
let steps = 0;
let stepsWithFlip = 0;
let layerSteps = 0;
let layerFlips = 0;
for await (const b of loader.prefetch()) {
  if (steps >= Number(stepsArg)) break;
  engine.tidy(() => {
    const x = normalizeImages(b.images, [b.size, ch, ih, iw], data.mean, data.std);
    const y = Tensor.from(b.labels.subarray(0, b.size), [b.size], 'i32');
    backward(softmaxCrossEntropy(model.forward(x), y));
    opt.step(cfg.lr);
  });
  opt.zeroGrad();
  let any = false;
  for (const [, l] of layers) {
    const fl = await l.inputFraclen.read();
    const run = await l.inputFraclenRun.read();
    const flmax = l.inputWl - (l.inputSigned ? 1 : 0);
    for (let c = 0; c < fl.length; c++) {
      layerSteps++;
      if (fl[c] !== Math.min(Math.max(roundHalfEven(run[c]), 0), flmax)) (layerFlips++, (any = true));
    }
  }
  steps++;
  if (any) stepsWithFlip++;
}
console.log(JSON.stringify({ steps, stepsWithFlip, shareOfSteps: stepsWithFlip / steps, layerSteps, layerFlips, shareOfLayerSteps: layerFlips / layerSteps }));
process.exit(0);
