// Measures what each built page costs a viewer, gzipped: its HTML plus every script and stylesheet it
// can load (static imports, CSS, and dynamic imports such as hls.js), from Vite's manifest. Fails if
// any page is over the budget. Run after `npm run build`.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const BUDGET_BYTES = 150 * 1000;
const here = dirname(fileURLToPath(import.meta.url));
const outDir = resolve(here, '../../src/owncastd/webserver/static');

let manifest;
try {
  manifest = JSON.parse(readFileSync(join(outDir, '.vite/manifest.json'), 'utf8'));
} catch (err) {
  console.error(`size: cannot read ${relative(process.cwd(), outDir)}/.vite/manifest.json; run \`npm run build\` first.`);
  console.error(String(err));
  process.exit(2);
}

const gzipCache = new Map();
function gzipped(file) {
  if (!gzipCache.has(file)) gzipCache.set(file, gzipSync(readFileSync(join(outDir, file))).length);
  return gzipCache.get(file);
}

/** Every file a manifest chunk can bring in. */
function closure(key, files = new Set(), seen = new Set()) {
  if (seen.has(key)) return files;
  seen.add(key);
  const chunk = manifest[key];
  if (!chunk) throw new Error(`manifest has no entry ${key}`);
  files.add(chunk.file);
  for (const css of chunk.css ?? []) files.add(css);
  for (const asset of chunk.assets ?? []) files.add(asset);
  for (const dep of [...(chunk.imports ?? []), ...(chunk.dynamicImports ?? [])]) closure(dep, files, seen);
  return files;
}

const kB = (bytes) => `${(bytes / 1000).toFixed(1)} kB`;
let failed = false;
const entries = Object.entries(manifest).filter(([, chunk]) => chunk.isEntry);
if (entries.length === 0) {
  console.error('size: no entries in the manifest');
  process.exit(2);
}
for (const [key, chunk] of entries) {
  const files = [chunk.src, ...closure(key)];
  const rows = files.map((file) => [file, gzipped(file)]);
  const total = rows.reduce((sum, [, size]) => sum + size, 0);
  const over = total > BUDGET_BYTES;
  failed ||= over;
  console.log(`${chunk.src}: ${kB(total)} gzipped (budget ${kB(BUDGET_BYTES)})${over ? '  OVER BUDGET' : ''}`);
  for (const [file, size] of rows.sort((a, b) => b[1] - a[1])) console.log(`  ${kB(size).padStart(9)}  ${file}`);
}

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}
const shipped = walk(outDir).filter((p) => !p.includes(`${join(outDir, '.vite')}`));
const all = shipped.reduce((sum, p) => sum + gzipped(relative(outDir, p)), 0);
console.log(`all shipped files (${shipped.length}): ${kB(all)} gzipped`);

if (failed) {
  console.error(`size: a page is over the ${kB(BUDGET_BYTES)} gzipped budget`);
  process.exit(1);
}
