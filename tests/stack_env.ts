// Where this checkout's local stack listens, for tests, benchmarks and scripts: API_URL and
// DB_URL from the environment (scripts/lib.sh exports them for every make target), else the
// ports this checkout's stack was last started on (.stack/env, or $STACK_DIR/env, written by
// scripts/stack.sh start), else scripts/lib.sh's defaults. The one place outside scripts/lib.sh
// that names the default ports (tests/unit/stack_env.test.ts keeps it so): a second clone on
// other ports is never reached by a test of this one.
const root = new URL("../", import.meta.url).pathname;

function stackEnv(): Record<string, string> {
  const dir = Deno.env.get("STACK_DIR") ?? `${root}.stack`;
  try {
    return Object.fromEntries(
      Deno.readTextFileSync(`${dir}/env`).split("\n").flatMap((l) => {
        const m = l.match(/^([A-Z_]+)=(\d+)$/);
        return m ? [[m[1], m[2]]] : [];
      }),
    );
  } catch {
    return {};
  }
}

const saved = stackEnv();
const port = (name: string, fallback: string) => Deno.env.get(name) ?? saved[name] ?? fallback;
export const PG_PORT = port("PG_PORT", "54322");
export const API_PORT = port("API_PORT", "54321");
export const REST_PORT = port("REST_PORT", "54330");
export const API_URL = Deno.env.get("API_URL") ?? `http://127.0.0.1:${API_PORT}`;
export const DB_URL = Deno.env.get("DB_URL") ?? `postgresql://postgres:postgres@127.0.0.1:${PG_PORT}/postgres`;
