/**
 * The page's training (web/app.ts: pageStageSets + trainStage on the digits of mnist.bin) run in
 * Node on Dawn, for the README's page-vs-Node images/s and to see whether a stage collapses for
 * some seed. Prints one line per stage and seed; numbers only, asserts nothing.
 *
 *   npx tsx bench/page-training.ts [--train 480] [--test 100] [--width 8] [--batch 16] [--seeds 1,2,3] [--float-epochs 1] [--fixed-epochs 1] [--set key=value,...]
 *
 * --set adds config lines to both stages (e.g. head_form=f8net_scaled, the page before the configs stated theirs).
 *
 * The images/s figure is the page's: the mean of the stage's epochs' images_per_s (training
 * steps only, evaluation excluded).
 */
import '../src/node/register.js';
import { join } from 'node:path';
import { Engine } from '../src/runtime/engine.js';
import { loadConfig } from '../src/node/config-file.js';
import { loadMnistNpm } from '../src/node/dataset-files.js';
import { decodeMnistBin, encodeMnistBin } from '../src/browser/mnist-bin.js';
import { pageStageSets, trainStage, type PageTrainOptions } from '../src/browser/train.js';
import { STATS } from '../src/data/sources.js';
import { imageFeed } from '../src/quant/head-form.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}
const o: PageTrainOptions = { trainSamples: Number(arg('train', '480')), testSamples: Number(arg('test', '100')), width: Number(arg('width', '8')), batchSize: Number(arg('batch', '16')), floatEpochs: Number(arg('float-epochs', '1')), fixedEpochs: Number(arg('fixed-epochs', '1')) };
const seeds = arg('seeds', '1').split(',').map(Number);
const extra = arg('set', '') ? arg('set', '').split(',') : [];
const ROOT = join(import.meta.dirname, '..');

const e = await Engine.open();
console.log(`adapter: ${e.gpu.describe().description}; ${o.trainSamples} train / ${o.testSamples} test images, width ${o.width}, batch ${o.batchSize}, epochs ${o.floatEpochs} + ${o.fixedEpochs}`);
const splits = decodeMnistBin(encodeMnistBin(loadMnistNpm()), 'mnist.bin', { train: o.trainSamples, test: o.testSamples });
for (const seed of seeds) {
  const sets = pageStageSets({ ...o, seed });
  const fcfg = loadConfig(join(ROOT, 'configs/cnn_mnist_float.yml'), [...sets.float, ...extra]);
  const qcfg = loadConfig(join(ROOT, 'configs/cnn_mnist_fixed.yml'), [...sets.fixed, ...extra]);
  const [mean, std] = STATS.mnist;
  const data = { ...splits, ...imageFeed(fcfg.head_form, mean, std) };
  const losses: number[] = [];
  const line = (stage: string, r: Awaited<ReturnType<typeof trainStage>>) => {
    const ips = r.epochs.reduce((a, x) => a + x.images_per_s, 0) / r.epochs.length;
    // As the browser test reads the loss: mean of the first and of the last third of the logged steps.
    const n = Math.floor(losses.length / 3);
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    console.log(`seed ${seed} ${stage.padEnd(5)} top-1 ${(100 * r.final.top1).toFixed(1).padStart(5)}%  loss (thirds) ${mean(losses.slice(0, n)).toFixed(3)} -> ${mean(losses.slice(-n)).toFixed(3)}  ${ips.toFixed(1)} images/s`);
  };
  const f = await trainStage(fcfg, data, { onStep: (s) => losses.push(s.loss) });
  line('float', f);
  f.model.dispose();
  losses.length = 0;
  const q = await trainStage(qcfg, data, { onStep: (s) => losses.push(s.loss) }, f.checkpoint);
  line('fixed', q);
  q.model.dispose();
}
await e.close();
