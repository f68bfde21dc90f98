// The page's preprocessing run by node on a batch of images, for tests/test_web.py:
//   node tests/browser/preprocess.mjs BATCH.json BATCH.bin OUT.json
// BATCH.json lists {width, height, offset} of RGBA images in BATCH.bin; OUT.json gets, for
// each, its 28×28 digit (784 numbers, row-major) or the error it raised.
import { readFileSync, writeFileSync } from "node:fs";
import { preprocess } from "../../mnistlib/webapp/preprocess.js";

const [batchJson, batchBin, outJson] = process.argv.slice(2);
const { images } = JSON.parse(readFileSync(batchJson, "utf8"));
const bytes = readFileSync(batchBin);
const results = images.map(({ width, height, offset }) => {
  const data = new Uint8ClampedArray(bytes.buffer, bytes.byteOffset + offset, width * height * 4);
  try {
    return { digit28: Array.from(preprocess({ data, width, height })) };
  } catch (e) {
    return { error: e.message };
  }
});
writeFileSync(outJson, JSON.stringify(results));
