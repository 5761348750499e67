/**
 * Fingerprints of what f8net derives from a network's definition, to compare two versions of the
 * code: the sha256 of model.json and weights.bin (src/export/format.ts) of the integer export of
 * every zoo family under every head form (seeded weights, six seeded training-mode passes, as
 * test/gpu/export.test.ts warms its models), and of the `f8net model summary` JSON of every
 * registered network on two data shapes. Identical lines = identical outputs.
 *
 *   npx tsx tools/export_hashes.ts > hashes.txt
 */
import '../src/node/register.js';
import { Engine } from '../src/runtime/engine.js';
import { Tensor } from '../src/tensor.js';
import { noGrad } from '../src/autograd/tape.js';
import { Rng } from '../src/runtime/rng.js';
import { sha256Hex } from '../src/runtime/sha256.js';
import { buildModel, modelNames, modelArgs } from '../src/models/index.js';
import { summarizeModel } from '../src/models/summary.js';
import { fixedQuant, type HeadForm, type QuantConfig } from '../src/nn/qlayers.js';
import { exportModel } from '../src/export/convert.js';
import { serializeIntModel } from '../src/export/format.js';

const NETS: { name: string; args: Record<string, number>; C: number; S: number; quant?: Partial<QuantConfig> }[] = [
  { name: 'cnn', args: { width: 8 }, C: 1, S: 14 },
  { name: 'cnn', args: { width: 8 }, C: 1, S: 14, quant: { formatType: 'per_channel', inputFormatType: 'per_layer' } },
  { name: 'resnet20', args: {}, C: 3, S: 12 },
  { name: 'resnet20', args: {}, C: 3, S: 12, quant: { formatType: 'per_channel', inputFormatType: 'per_layer' } },
  { name: 'resnet18', args: {}, C: 3, S: 32 },
  { name: 'resnet50', args: {}, C: 3, S: 32 },
  { name: 'mobilenet_v1', args: { width_mult: 0.25 }, C: 3, S: 32 },
  { name: 'mobilenet_v2', args: { width_mult: 0.5 }, C: 3, S: 32 },
];
const FORMS: HeadForm[] = ['weight_only', 'double_side', 'f8net_scaled'];

for (const name of modelNames()) {
  for (const data of [{}, { imageSize: 64, numClasses: 10 }]) {
    const args = modelArgs(name).includes('width_mult') ? { width_mult: 0.5 } : {};
    console.log(`summary ${name} ${JSON.stringify(data)} ${sha256Hex(new TextEncoder().encode(JSON.stringify(summarizeModel(name, args, data))))}`);
  }
}

const e = await Engine.open();
for (const net of NETS) {
  for (const form of FORMS) {
    const n = 2;
    const rng = new Rng(5);
    const x = Float32Array.from({ length: n * net.C * net.S * net.S }, () => (form === 'weight_only' ? Math.floor(rng.nextFloat() * 256) / 256 : rng.normal()));
    const m = buildModel(net.name, net.args, { inChannels: net.C, numClasses: 10, imageSize: net.S }, fixedQuant({ ...net.quant, headForm: form }), new Rng(3));
    m.train();
    for (let i = 0; i < 6; i++) e.tidy(() => noGrad(() => void m.forward(Tensor.from(x, [n, net.C, net.S, net.S]))));
    m.eval();
    const g = await exportModel(m, { name: net.name, args: net.args, dataset: 'random', classes: 10, checkpoint: '-' }, { shape: [net.C, net.S, net.S], mean: new Array(net.C).fill(0), std: new Array(net.C).fill(1) });
    m.dispose();
    const { json, bin } = serializeIntModel(g);
    const tag = `${net.name}${net.args.width_mult ? `@${net.args.width_mult}` : ''}${net.quant ? ' per_channel' : ''} ${form}`;
    console.log(`export ${tag} model.json ${sha256Hex(new TextEncoder().encode(json))} weights.bin ${sha256Hex(bin)} nodes ${g.nodes.length}`);
  }
}
await e.close();
