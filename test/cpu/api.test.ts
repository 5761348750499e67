import { it, expect } from 'vitest';
import { Engine } from '../../src/runtime/engine.js';

it('without an open engine, the error names the call that opens one (and no function that does not exist)', () => {
  expect(Engine.tryGet()).toBeNull();
  expect(() => Engine.get()).toThrow(/^no GPU engine is open: call `await Engine\.open\(\)` first/);
  expect(() => Engine.get()).not.toThrow(/init\(\)/);
});
