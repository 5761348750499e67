// Image batch to network input: uint8 pixels (packed four to a u32, little end first), NCHW,
// to f32 (pixel / 255 - mean[c]) / std[c]. One thread per 4 pixels (one u32 word); up to
// 4 channels, whose mean and 1/std travel as parameters. Launch: 1-D over ceil(n / 4) words.
#include "common"

struct Params { n: u32, hw: u32, c: u32, m0: f32, m1: f32, m2: f32, m3: f32, r0: f32, r1: f32, r2: f32, r3: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pixels: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn channel_mean(c: u32) -> f32 { return select(select(select(p.m3, p.m2, c == 2u), p.m1, c == 1u), p.m0, c == 0u); }
fn channel_rstd(c: u32) -> f32 { return select(select(select(p.r3, p.r2, c == 2u), p.r1, c == 1u), p.r0, c == 0u); }

@compute @workgroup_size(${WG}) fn normalize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = linear_index(gid, nwg, ${WG}u);
  if (w * 4u >= p.n) { return; }
  let word = pixels[w];
  for (var j = 0u; j < 4u; j++) {
    let i = w * 4u + j;
    if (i < p.n) {
      let c = (i / p.hw) % p.c;
      let v = f32((word >> (8u * j)) & 0xffu) / 255.0;
      out[i] = (v - channel_mean(c)) * channel_rstd(c);
    }
  }
}
