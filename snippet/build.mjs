// Minify src/collector.js into dist/collector.js, and its Brotli form dist/collector.js.br, into dist/ or the
// directory given as the first argument. Deterministic: a pinned minifier, fixed options, no banner, no map.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants } from "node:zlib";
import UglifyJS from "uglify-js";

const here = dirname(fileURLToPath(import.meta.url));
const outDir = process.argv[2] || join(here, "dist");
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
const code = Buffer.from(result.code); // no trailing newline: it costs 3 bytes gzipped
// Brotli at its best quality: served when the browser accepts br (the collector has no Brotli encoder itself).
const brotli = brotliCompressSync(code, {
  params: {
    [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
    [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
    [constants.BROTLI_PARAM_SIZE_HINT]: code.length,
  },
});
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, "collector.js"), code);
writeFileSync(join(outDir, "collector.js.br"), brotli);
console.log(`${outDir}/collector.js: ${code.length} bytes, ${brotli.length} bytes with Brotli`);
