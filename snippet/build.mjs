// Minify src/collector.js into dist/collector.js (or the path given as the first argument).
// Deterministic: one pinned minifier, fixed options, no banner, no source map, no timestamps.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import UglifyJS from "uglify-js";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] || join(here, "dist", "collector.js");
const source = readFileSync(join(here, "src", "collector.js"), "utf8");
const result = UglifyJS.minify(source, {
  compress: { passes: 3 },
  mangle: true,
  output: { comments: false },
});
if (result.error) {
  console.error(result.error);
  process.exit(1);
}
writeFileSync(out, result.code + "\n");
console.log(`${out}: ${Buffer.byteLength(result.code) + 1} bytes`);
