// Headless Chromium driven over the Chrome DevTools Protocol, from Deno with no dependency:
// launch `chromium` (Debian's package; `make test` installs it when missing) with a debugging
// port, open one page, and record what a developer would see in DevTools: console messages,
// uncaught exceptions, and every network request (CORS preflights included) with its outcome.

export type ConsoleEntry = { level: string; text: string };
export type NetworkEntry = {
  requestId: string;
  url: string;
  method: string;
  /** CDP resource type: "Fetch", "Preflight", "Document", "Script", ... */
  type: string;
  status?: number;
  headers?: Record<string, string>;
  failed?: string;
  corsError?: string;
};

type Pending = { resolve: (v: any) => void; reject: (e: Error) => void };

/** The browser executable: $CHROMIUM, else the first of the usual names on PATH. */
export function findChromium(): string | null {
  const fromEnv = Deno.env.get("CHROMIUM");
  if (fromEnv) return fromEnv;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    for (const name of ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]) {
      try {
        if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
      } catch { /* not here */ }
    }
  }
  return null;
}

export class Page {
  readonly console: ConsoleEntry[] = [];
  readonly network = new Map<string, NetworkEntry>();
  #id = 0;
  #pending = new Map<number, Pending>();
  #loaded: (() => void) | null = null;

  private constructor(
    private readonly proc: Deno.ChildProcess,
    private readonly ws: WebSocket,
    private readonly userDataDir: string,
    private sessionId = "",
  ) {
    ws.onmessage = (e) => this.#onMessage(JSON.parse(e.data));
    // A browser that crashes or closes must fail the test, not leave it waiting.
    ws.onclose = () => {
      for (const p of this.#pending.values()) p.reject(new Error("the browser closed the DevTools connection"));
      this.#pending.clear();
    };
  }

  /** Start a fresh headless Chromium (its own profile folder) with one blank page. */
  static async launch(): Promise<Page> {
    const exe = findChromium();
    if (!exe) throw new Error("chromium not found on PATH: run `make chromium` (or set CHROMIUM=/path/to/chrome)");
    const userDataDir = await Deno.makeTempDir({ prefix: "chromium-test-" });
    const command = new Deno.Command(exe, {
      args: [
        "--headless",
        "--no-sandbox", // CI runs as root, where Chromium's sandbox refuses to start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        `--user-data-dir=${userDataDir}`,
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    });
    let proc: Deno.ChildProcess;
    try {
      proc = command.spawn();
    } catch (err) {
      await Deno.remove(userDataDir, { recursive: true }).catch(() => {});
      throw new Error(`cannot start ${exe}: ${err instanceof Error ? err.message : err} (make chromium installs it)`);
    }
    // Chromium prints "DevTools listening on ws://127.0.0.1:<port>/devtools/browser/<id>".
    const decoder = new TextDecoder();
    let seen = "";
    let wsUrl: string | null = null;
    const reader = proc.stderr.getReader();
    const deadline = setTimeout(() => reader.cancel(), 30_000);
    while (!wsUrl) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += decoder.decode(value, { stream: true });
      wsUrl = seen.match(/DevTools listening on (ws:\/\/\S+)/)?.[1] ?? null;
    }
    clearTimeout(deadline);
    if (!wsUrl) {
      try {
        proc.kill("SIGKILL");
      } catch { /* already gone */ }
      await Deno.remove(userDataDir, { recursive: true }).catch(() => {});
      throw new Error(`chromium did not start (${exe}):\n${seen.slice(-2000)}`);
    }
    // Keep draining stderr so Chromium never blocks on a full pipe.
    (async () => {
      try {
        while (!(await reader.read()).done) { /* discard */ }
      } catch { /* closed */ }
    })();

    const ws = new WebSocket(wsUrl);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`cannot connect to ${wsUrl}`));
    });
    const page = new Page(proc, ws, userDataDir);
    const { targetId } = await page.send("Target.createTarget", { url: "about:blank" }, "");
    const { sessionId } = await page.send("Target.attachToTarget", { targetId, flatten: true }, "");
    page.sessionId = sessionId;
    await page.send("Page.enable");
    await page.send("Runtime.enable");
    await page.send("Log.enable");
    await page.send("Network.enable");
    return page;
  }

  /** One CDP command; on the page's session unless `sessionId` says otherwise ("" = browser). */
  send(method: string, params: Record<string, unknown> = {}, sessionId = this.sessionId): Promise<any> {
    const id = ++this.#id;
    const msg: Record<string, unknown> = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${method}: no answer from the browser within 30 s`));
      }, 30_000);
      this.#pending.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.ws.send(JSON.stringify(msg));
    });
  }

  #onMessage(msg: any) {
    if (msg.id !== undefined) {
      const p = this.#pending.get(msg.id);
      this.#pending.delete(msg.id);
      if (msg.error) p?.reject(new Error(`${msg.error.message} (${msg.error.code})`));
      else p?.resolve(msg.result);
      return;
    }
    const params = msg.params ?? {};
    switch (msg.method) {
      case "Page.loadEventFired":
        this.#loaded?.();
        break;
      case "Runtime.consoleAPICalled":
        this.console.push({
          level: params.type,
          text: (params.args ?? []).map((a: any) => a.value ?? a.description ?? "").join(" "),
        });
        break;
      case "Runtime.exceptionThrown":
        this.console.push({
          level: "exception",
          text: params.exceptionDetails?.exception?.description ?? params.exceptionDetails?.text ?? "",
        });
        break;
      case "Log.entryAdded": // browser-side messages, such as "blocked by CORS policy"
        this.console.push({ level: params.entry.level, text: params.entry.text });
        break;
      case "Network.requestWillBeSent":
        this.network.set(params.requestId, {
          requestId: params.requestId,
          url: params.request.url,
          method: params.request.method,
          type: params.type ?? "",
        });
        break;
      case "Network.responseReceived": {
        const entry = this.network.get(params.requestId);
        if (entry) {
          entry.status = params.response.status;
          entry.headers = lowerCaseKeys(params.response.headers);
          if (params.type) entry.type = params.type;
        }
        break;
      }
      case "Network.loadingFailed": {
        const entry = this.network.get(params.requestId);
        if (entry) {
          entry.failed = params.errorText;
          entry.corsError = params.corsErrorStatus?.corsError;
        }
        break;
      }
    }
  }

  /** Navigate and wait for the load event. */
  async goto(url: string): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const loaded = new Promise<void>((resolve, reject) => {
      this.#loaded = resolve;
      timer = setTimeout(() => reject(new Error(`${url} did not finish loading within 30 s`)), 30_000);
    });
    try {
      const { errorText } = await this.send("Page.navigate", { url });
      if (errorText) throw new Error(`navigation to ${url} failed: ${errorText}`);
      await loaded;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Evaluate an expression in the page and return its (JSON-serialisable) value. */
  async evaluate<T>(expression: string): Promise<T> {
    const { result, exceptionDetails } = await this.send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    });
    if (exceptionDetails) throw new Error(`evaluate failed: ${exceptionDetails.exception?.description}`);
    return result.value as T;
  }

  /** Poll `expression` until it is truthy (or fail after `ms`). */
  async waitFor(expression: string, ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    while (!(await this.evaluate<boolean>(`Boolean(${expression})`))) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${expression}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The visible text of the element with this id, or null. */
  text(id: string): Promise<string | null> {
    return this.evaluate(`document.getElementById(${JSON.stringify(id)})?.textContent ?? null`);
  }

  async close(): Promise<void> {
    try {
      await Promise.race([this.send("Browser.close", {}, ""), new Promise((r) => setTimeout(r, 2000))]);
    } catch { /* already closing */ }
    this.ws.close();
    const exited = await Promise.race([this.proc.status.then(() => true), new Promise((r) => setTimeout(r, 5000))]);
    if (!exited) {
      try {
        this.proc.kill("SIGKILL");
      } catch { /* gone */ }
      await this.proc.status;
    }
    await Deno.remove(this.userDataDir, { recursive: true }).catch(() => {});
  }
}

function lowerCaseKeys(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}
