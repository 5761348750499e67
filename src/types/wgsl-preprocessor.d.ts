declare module 'wgsl-preprocessor/wgsl-preprocessor.js' {
  /** Template tag resolving #if/#elif/#else/#endif on interpolated values. */
  export function wgsl(strings: TemplateStringsArray, ...values: unknown[]): string;
}
