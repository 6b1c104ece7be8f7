// Runs ONNX models in ONNX Runtime (onnxruntime-node, CPU) for tests/test_onnx.c.
// usage: node tests/onnx_run.js MANIFEST.json
// MANIFEST: [{"model": PATH, "input": PATH, "shape": [N, C, H, W], "output": PATH}, ...]
// Inputs and outputs are raw little-endian float32; the output is the graph's "logits".
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  for (const job of jobs) {
    const session = await ort.InferenceSession.create(job.model, {executionProviders: ['cpu']});
    const bytes = fs.readFileSync(job.input);
    const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    const feeds = {image: new ort.Tensor('float32', Float32Array.from(data), job.shape)};
    const result = await session.run(feeds);
    const logits = result.logits;
    fs.writeFileSync(job.output, Buffer.from(logits.data.buffer, logits.data.byteOffset,
                                             logits.data.byteLength));
    console.log(`${job.model}: logits ${logits.dims.join('x')}`);
  }
}

main().catch((e) => {
  console.error(`onnx_run.js: ${e.message || e}`);
  process.exit(1);
});
