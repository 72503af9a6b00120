// For each wasm module in wasm-pkg/: bytes raw and gzipped, and the time to compile and
// instantiate it in Deno (median of 50 fresh instances: new WebAssembly.Module from the bytes,
// then the generated glue's initSync on a freshly imported copy of the glue).
const root = new URL("../", import.meta.url);
const pkgRoot = new URL("wasm-pkg/", root);

async function gzipSize(bytes: Uint8Array<ArrayBuffer>): Promise<number> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return (await new Response(stream).arrayBuffer()).byteLength;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

const rows: string[] = [];
// panic-probe is a test fixture, not a module anyone deploys.
const names = [...Deno.readDirSync(pkgRoot)].filter((e) => e.isDirectory && e.name !== "panic-probe").map((e) => e.name)
  .sort();
for (const name of names) {
  const dir = new URL(`${name}/`, pkgRoot);
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = Deno.readFileSync(new URL("index_bg.wasm", dir));
  } catch {
    continue;
  }
  const times: number[] = [];
  for (let i = 0; i < 50; i++) {
    const glue = await import(new URL(`index.js?bench=${i}`, dir).href);
    const t0 = performance.now();
    glue.initSync({ module: new WebAssembly.Module(bytes) });
    times.push(performance.now() - t0);
  }
  rows.push(
    `| ${name} | ${bytes.length} | ${(bytes.length / 1024).toFixed(1)} KiB | ${await gzipSize(bytes)} | ${
      median(times).toFixed(2)
    } ms |`,
  );
}
console.log("| module | raw bytes | raw | gzipped bytes | instantiate (median of 50) |");
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const r of rows) console.log(r);
