/**
 * Names shared by every ONNX form of the integer model: the forms, their opsets and the
 * metadata_props keys. Kept apart from ./onnx-build.ts so that the published types of
 * ./onnx-export.ts name no onnx-proto type.
 */
export type OnnxForm = 'integize' | 'int_op_only' | 'qdq';

/** Opsets: 13 for integize (plain float ops) and qdq (per-axis QuantizeLinear / DequantizeLinear), 18 for int_op_only (BitwiseAnd). */
export const ONNX_OPSET: Record<OnnxForm, number> = { integize: 13, int_op_only: 18, qdq: 13 };

/** metadata_props keys of every form. */
export const ONNX_META = {
  format: 'f8net.format',
  version: 'f8net.version',
  form: 'f8net.onnx_form',
  producer: 'f8net.producer',
  model: 'f8net.model',
  inputFl: 'f8net.input_fl',
  outputFl: 'f8net.output_fl',
  inputScale: 'f8net.input_scale',
  inputMean: 'f8net.input_mean',
  inputStd: 'f8net.input_std',
  inputDtype: 'f8net.input_dtype',
  inputShape: 'f8net.input_shape',
  /** The first layer's form (src/quant/head-form.ts); absent for graphs made before head forms. */
  headForm: 'f8net.head_form',
  /** The classifier's form (src/quant/classifier-form.ts): paper logits are the real ones / s_in; absent: folded. */
  classifierForm: 'f8net.classifier_form',
  layers: 'f8net.layers',
} as const;
